import { promises as fs } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../cli/exit-codes";
import { FatalError } from "../storage/errors";

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly startedAt: string;
}

/** Exit code when another run holds the lock. */
export const LOCKED_EXIT_CODE = EXIT_CODES.locked;

/**
 * One run at a time per state folder: `<stateDir>/lock`, created exclusively. A lock left by a process that no
 * longer exists (killed, rebooted) is taken over, and `stale` tells the caller the last run did not finish.
 */
export class RunLock {
  private constructor(private readonly path: string, readonly stale: LockInfo | undefined) {}

  static async acquire(stateDir: string, command: string): Promise<RunLock> {
    const path = join(stateDir, "lock");
    const info: LockInfo = { pid: process.pid, host: hostname(), command, startedAt: new Date().toISOString() };
    let stale: LockInfo | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      // The lock appears whole or not at all (written aside, then hard-linked into place): a run killed while
      // taking it cannot leave an empty lock that makes the next run believe another one is starting.
      const fresh = `${path}.${process.pid}.new`;
      try {
        await fs.writeFile(fresh, JSON.stringify(info), { mode: 0o600 });
        await fs.link(fresh, path);
        return new RunLock(path, stale);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      } finally {
        await fs.rm(fresh, { force: true });
      }
      const holder = await readLock(path);
      if (holder && holder.host === hostname() && isAlive(holder.pid)) {
        throw new FatalError(
          `another dr-sync ${holder.command} (pid ${holder.pid}, started ${holder.startedAt}) holds ${path}; this run exits without touching anything`,
          LOCKED_EXIT_CODE);
      }
      if (!holder) {
        // A lock file written but not yet filled in belongs to a run starting right now; give it a moment.
        const st = await fs.stat(path).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs < 5000) {
          throw new FatalError(`another dr-sync run is starting (${path} is new); this run exits without touching anything`, LOCKED_EXIT_CODE);
        }
      }
      stale = holder;
      // Rename first so that of two processes taking over the same stale lock, only one removes it.
      const aside = `${path}.stale.${process.pid}`;
      await fs.rename(path, aside).then(() => fs.rm(aside, { force: true }), () => undefined);
    }
    throw new FatalError(`could not take ${path}; another run keeps taking it`, LOCKED_EXIT_CODE);
  }

  async release(): Promise<void> {
    const holder = await readLock(this.path);
    if (holder?.pid === process.pid) await fs.rm(this.path, { force: true });
  }
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await fs.readFile(path, "utf8")) as LockInfo;
  } catch {
    return undefined;
  }
}

/** True when a process of that id exists (it may be another user's: EPERM still means it runs). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
