import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

export interface AtomicWriteOptions {
  /** fsync the file before the rename and its folder after, so the new content survives a power loss.
   *  @default false */
  readonly durable?: boolean;
}

/** Writes a file so that readers see the old content or the new, never a part: temp file, then rename. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  if (opts.durable) {
    const fh = await fs.open(tmp, "w", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } else {
    await fs.writeFile(tmp, data, { mode });
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (opts.durable) await syncDir(dirname(path));
}

/** fsyncs a folder, so the renames and links in it are on disk. */
export async function syncDir(path: string): Promise<void> {
  const fh = await fs.open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Flushes the whole file system holding `path` (`sync -f`, one syncfs call): the barrier before a mark vouches
 * for what a hop staged. One call per hop instead of an fsync per blob keeps full runs fast; a blob whose bytes
 * were still lost is caught by its staged MD5 before any push.
 */
export function syncFileSystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("sync", ["-f", path], (err) => (err ? reject(new Error(`sync -f ${path} failed: ${err.message}`)) : resolve()));
  });
}

/** Creates a folder (and parents) readable by its owner only. */
export async function ensurePrivateDir(path: string): Promise<void> {
  await fs.mkdir(path, { recursive: true, mode: 0o700 });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}
