import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir } from "../staging/atomic-file";

/**
 * Runs `use` with a scratch folder of its own on the staging disk (`<stagingDir>/.restore-tmp/<random>/`), removed
 * afterwards: a command whose work grows with a container's blob count (restore --as-of, retention list) keeps it
 * there, in a scratch index or a sort spool, instead of in memory.
 */
export async function withScratchDir<T>(stagingDir: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(stagingDir, ".restore-tmp", randomBytes(6).toString("hex"));
  await ensurePrivateDir(dir);
  try {
    return await use(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
