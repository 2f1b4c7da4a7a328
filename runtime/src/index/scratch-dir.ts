import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir } from "../staging/atomic-file";
import { isAlive } from "../state/lock";

/**
 * Runs `use` with a scratch folder of its own on the staging disk (`<stagingDir>/.restore-tmp/<pid>-<random>/`),
 * removed afterwards: a command whose work grows with a container's blob count (restore --as-of, retention list)
 * keeps it there, in a scratch index or a sort spool, instead of in memory. Folders of processes that no longer run
 * (a command killed, or cut off by a reader that went away) are removed first; another command's stay.
 */
export async function withScratchDir<T>(stagingDir: string, use: (dir: string) => Promise<T>): Promise<T> {
  const root = join(stagingDir, ".restore-tmp");
  await removeOrphans(root);
  const dir = join(root, `${process.pid}-${randomBytes(6).toString("hex")}`);
  await ensurePrivateDir(dir);
  try {
    return await use(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function removeOrphans(root: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    await fs.rm(join(root, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
