import { promises as fs, readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../cli/exit-codes";
import { FatalError } from "../storage/errors";

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly startedAt: string;
  /** The machine's boot (Linux's boot_id) the holder ran in. @default absent where the system does not say */
  readonly bootId?: string;
  /** When the holder's process started, as the kernel counts it (`/proc/<pid>/stat` field 22): a live process
   *  with that pid that started at another time only reuses the pid. @default absent where the system does not say */
  readonly pidStart?: string;
  /** The holder's pid namespace (`/proc/self/ns/pid`): two containers may share a hostname and a state volume but not
   *  their pids, and a lock of another namespace is judged like one of another host. @default absent where unknown */
  readonly pidNs?: string;
}

/** How often the holder touches its lock, so that a run on another host can tell a live lock from a left one. */
export const LOCK_HEARTBEAT_MS = 30_000;
/** A lock of another host untouched for this long was left by a run that no longer runs (20 missed heartbeats). */
export const OTHER_HOST_LOCK_STALE_MS = 10 * 60_000;

/** What this machine knows of processes, for `holderRuns`. */
export interface ProcessView {
  readonly host: string;
  readonly bootId?: string;
  readonly pidNs?: string;
  alive(pid: number): boolean;
  /** The start time of a live process, where the system says. */
  startOf(pid: number): string | undefined;
}

/**
 * Whether the run that wrote a lock still runs. On this host: the same boot, a live pid, and (where known) the
 * same process start, so neither a reboot nor a pid reused since makes a left lock look held. On another host or
 * in another pid namespace (a state folder on shared storage, containers sharing a hostname): its heartbeat is
 * younger than OTHER_HOST_LOCK_STALE_MS, as the file system's own clock measures it (`untouchedMs`).
 */
export function holderRuns(holder: LockInfo, here: ProcessView, untouchedMs: number): boolean {
  if (elsewhere(holder, here)) return untouchedMs < OTHER_HOST_LOCK_STALE_MS;
  if (holder.bootId && here.bootId && holder.bootId !== here.bootId) return false;
  if (!here.alive(holder.pid)) return false;
  const start = holder.pidStart ? here.startOf(holder.pid) : undefined;
  return start === undefined || start === holder.pidStart;
}

/** A holder whose processes this machine cannot see: on another host, or in another pid namespace. */
function elsewhere(holder: LockInfo, here: ProcessView): boolean {
  return holder.host !== here.host || (!!holder.pidNs && !!here.pidNs && holder.pidNs !== here.pidNs);
}

/** This machine, as `holderRuns` sees it. */
export function thisMachine(): ProcessView {
  return { host: hostname(), bootId: bootId(), pidNs: pidNamespace(), alive: isAlive, startOf: processStart };
}

/** Exit code when another run holds the lock. */
export const LOCKED_EXIT_CODE = EXIT_CODES.locked;

/**
 * One run at a time per state folder: `<stateDir>/lock`, created exclusively. A lock left by a process that no
 * longer exists (killed, rebooted) is taken over, and `stale` tells the caller the last run did not finish.
 */
export class RunLock {
  private readonly heartbeat: ReturnType<typeof setInterval>;

  private constructor(private readonly path: string, readonly stale: LockInfo | undefined, private readonly info: LockInfo, heartbeatMs: number) {
    // A heartbeat while held, so a run on another host sharing the state folder can tell it is live: the file is
    // rewritten (never given a time of ours), so its time is the file system's clock, which both hosts share.
    this.heartbeat = setInterval(() => { void this.beat(); }, heartbeatMs);
    this.heartbeat.unref?.();
  }

  /** @param heartbeatMs how often the held lock's heartbeat is written. @default LOCK_HEARTBEAT_MS */
  static async acquire(stateDir: string, command: string, heartbeatMs = LOCK_HEARTBEAT_MS): Promise<RunLock> {
    const path = join(stateDir, "lock");
    const here = thisMachine();
    const pidStart = processStart(process.pid);
    const info: LockInfo = { pid: process.pid, host: here.host, command, startedAt: new Date().toISOString(),
      ...(here.bootId ? { bootId: here.bootId } : {}), ...(pidStart ? { pidStart } : {}), ...(here.pidNs ? { pidNs: here.pidNs } : {}) };
    let stale: LockInfo | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      // The lock appears whole or not at all (written aside, then hard-linked into place): a run killed while
      // taking it cannot leave an empty lock that makes the next run believe another one is starting.
      const fresh = `${path}.${process.pid}.new`;
      try {
        await fs.writeFile(fresh, JSON.stringify(info), { mode: 0o600 });
        await fs.link(fresh, path);
        return new RunLock(path, stale, info, heartbeatMs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      } finally {
        await fs.rm(fresh, { force: true });
      }
      const holder = await readLock(path);
      const untouchedMs = holder ? await sinceHeartbeat(path, holder) : 0;
      if (holder && holderRuns(holder, here, untouchedMs)) throw heldBy(holder, path, here, untouchedMs);
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
      if (await fs.rename(path, aside).then(() => true, () => false)) {
        const moved = await readLock(aside);
        if (moved && !(holder && sameLock(moved, holder))) {
          // Another run took the left lock over between our read and our rename: this one is live, put it back.
          await fs.link(aside, path).catch(() => undefined);
          await fs.rm(aside, { force: true });
          throw heldBy(moved, path, here, 0);
        }
        await fs.rm(aside, { force: true });
      }
    }
    throw new FatalError(`could not take ${path}; another run keeps taking it`, LOCKED_EXIT_CODE);
  }

  /** One heartbeat: written aside and renamed into place, so a reader never sees it half written; and only while
   *  the lock is still ours (one taken over from a holder that was suspended must not be kept alive by it). */
  private async beat(): Promise<void> {
    const holder = await readLock(this.path);
    if (!holder || !sameLock(holder, this.info)) {
      clearInterval(this.heartbeat);
      return;
    }
    const aside = `${this.path}.beat.${process.pid}.tmp`;
    await fs.writeFile(aside, beatOf(this.info), { mode: 0o600 }).then(() => fs.rename(aside, `${this.path}.beat`)).catch(() => fs.rm(aside, { force: true }).catch(() => undefined));
  }

  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    const holder = await readLock(this.path);
    if (holder && sameLock(holder, this.info)) {
      await fs.rm(this.path, { force: true });
      await fs.rm(`${this.path}.beat`, { force: true });
    }
  }
}

function isBeat(text: string): boolean {
  try {
    const b = JSON.parse(text) as { pid?: unknown };
    return typeof b?.pid === "number";
  } catch {
    return false;
  }
}

/** What a heartbeat file says: whose it is. */
function beatOf(info: LockInfo): string {
  return JSON.stringify({ pid: info.pid, host: info.host, startedAt: info.startedAt });
}

/**
 * How long since the holder's last sign of life (its lock written, or its heartbeat), measured on the file system's
 * clock: a probe file written now, against those files' times. Two hosts' own clocks are never compared.
 */
async function sinceHeartbeat(path: string, holder: LockInfo): Promise<number> {
  const probe = `${path}.probe.${process.pid}`;
  try {
    await fs.writeFile(probe, "", { mode: 0o600 });
    const now = (await fs.stat(probe)).mtimeMs;
    let last = (await fs.stat(path).catch(() => undefined))?.mtimeMs ?? 0;
    const beat = await fs.readFile(`${path}.beat`, "utf8").catch(() => undefined);
    // A beat that cannot be read whole (a writer of another version, a file system that shows a rename late) is
    // taken as a sign of life: when in doubt, the lock is held, never stolen.
    if (beat !== undefined && !isBeat(beat)) return 0;
    if (beat === beatOf(holder)) last = Math.max(last, (await fs.stat(`${path}.beat`).catch(() => undefined))?.mtimeMs ?? 0);
    return Math.max(0, now - last);
  } finally {
    await fs.rm(probe, { force: true });
  }
}

function sameLock(a: LockInfo, b: LockInfo): boolean {
  return a.pid === b.pid && a.host === b.host && a.startedAt === b.startedAt;
}

function heldBy(holder: LockInfo, path: string, here: ProcessView, untouchedMs: number): FatalError {
  const where = !elsewhere(holder, here) ? ""
    : ` on host ${holder.host}${holder.host === here.host ? ` (another pid namespace, ${holder.pidNs})` : ""}, touched ${Math.round(untouchedMs / 1000)} s ago ` +
      `(taken over after ${OTHER_HOST_LOCK_STALE_MS / 60_000} minutes untouched),`;
  return new FatalError(`another dr-sync ${holder.command} (pid ${holder.pid}, started ${holder.startedAt})${where} holds ${path}; this run exits without touching anything`,
    LOCKED_EXIT_CODE);
}

/** This process's pid namespace (Linux); undefined elsewhere. */
function pidNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

/** Linux's id of this boot; undefined elsewhere. */
function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** When a process started, in clock ticks since boot (`/proc/<pid>/stat` field 22); undefined where unknown. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: fields are counted after it.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] || undefined;
  } catch {
    return undefined;
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
