import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { FatalError } from "../runtime/src/storage/errors";
import { holderRuns, LockInfo, OTHER_HOST_LOCK_STALE_MS, processStart, ProcessView, RunLock } from "../runtime/src/state/lock";

/**
 * The run lock: one run at a time per state folder, and a lock left by a run that no longer runs is taken over.
 * Found in review: a left lock whose pid a process reused after a reboot blocked every run (exit 3, which the
 * unit counts as success) for as long as that process lived, and a lock of another host sharing the state folder
 * was taken over at once, live or not.
 */
const holder = (o: Partial<LockInfo> = {}): LockInfo => ({ pid: 4242, host: "vm", command: "run", startedAt: "2026-12-01T10:00:00.000Z", bootId: "boot-1", pidStart: "900", ...o });
const here = (o: Partial<ProcessView> = {}): ProcessView => ({ host: "vm", bootId: "boot-1", alive: (pid) => pid === 4242, startOf: () => "900", ...o });

describe("whether a lock's holder still runs", () => {
  it.each([
    ["the same boot, pid and process start", holder(), here(), 0, true],
    ["its pid is gone", holder(), here({ alive: () => false }), 0, false],
    ["another boot: the machine rebooted since, whatever runs under that pid now", holder(), here({ bootId: "boot-2" }), 0, false],
    ["the pid reused by a process that started later", holder(), here({ startOf: () => "5000" }), 0, false],
    ["a lock of an older version (no boot or start): the pid alone", holder({ bootId: undefined, pidStart: undefined }), here(), 0, true],
    ["this system says no boot or start: the pid alone", holder(), here({ bootId: undefined, startOf: () => undefined }), 0, true],
    ["another host, touched a minute ago", holder({ host: "other-vm" }), here(), 60_000, true],
    ["another host, untouched for longer than the limit", holder({ host: "other-vm" }), here(), OTHER_HOST_LOCK_STALE_MS, false],
    // Containers sharing a hostname and a state volume: the pid in the lock is another namespace's, not ours.
    ["another pid namespace on this host, its heartbeat fresh: held whatever our pid says", holder({ pidNs: "pid:[1]" }), here({ pidNs: "pid:[2]", alive: () => true, startOf: () => "1" }), 60_000, true],
    ["another pid namespace on this host, untouched for the limit", holder({ pidNs: "pid:[1]" }), here({ pidNs: "pid:[2]" }), OTHER_HOST_LOCK_STALE_MS, false],
    ["the same pid namespace: judged by its pid", holder({ pidNs: "pid:[1]" }), here({ pidNs: "pid:[1]", alive: () => false }), 0, false],
  ] as const)("%s", (_what, h, view, untouchedMs, runs) => {
    expect(holderRuns(h, view, untouchedMs)).toBe(runs);
  });
});

const hasProc = existsSync("/proc/self/stat");
if (!hasProc) {
  // eslint-disable-next-line no-console
  console.warn("runtime-lock: SKIPPED: no /proc here; the lock's process checks use it (Linux), and these tests with them");
}

(hasProc ? describe : describe.skip)("taking the lock", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "drsync-lock-")); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const leave = (info: LockInfo, ageMs = 0) => {
    writeFileSync(join(dir, "lock"), JSON.stringify(info));
    const t = new Date(Date.now() - ageMs);
    utimesSync(join(dir, "lock"), t, t);
  };

  test("a lock of a process that still runs is held: exit 3, saying by whom", async () => {
    const sleeper = spawn("sleep", ["30"]);
    try {
      await new Promise((r) => sleeper.once("spawn", r));
      leave(holder({ pid: sleeper.pid!, host: hostname(), bootId: undefined, pidStart: processStart(sleeper.pid!) }));
      const err = await RunLock.acquire(dir, "run").catch((e) => e);
      expect(err).toBeInstanceOf(FatalError);
      expect(err.exitCode).toBe(3);
      expect(err.message).toMatch(new RegExp(`another dr-sync run \\(pid ${sleeper.pid}, started [^)]+\\) holds .*lock; this run exits without touching anything`));
    } finally {
      sleeper.kill();
    }
  });

  test.each([
    ["a pid reused by another process since", (pid: number) => ({ pidStart: "1", pid })],
    ["a lock of the boot before", (pid: number) => ({ bootId: "a-boot-before-this-one", pid, pidStart: undefined })],
  ])("%s: taken over, and the left lock is reported", async (_what, left) => {
    const sleeper = spawn("sleep", ["30"]);
    try {
      await new Promise((r) => sleeper.once("spawn", r));
      leave(holder({ host: hostname(), ...left(sleeper.pid!) }));
      const lock = await RunLock.acquire(dir, "run");
      expect(lock.stale).toMatchObject({ pid: sleeper.pid });
      await lock.release();
      expect(existsSync(join(dir, "lock"))).toBe(false);
    } finally {
      sleeper.kill();
    }
  });

  test("a lock of another host is held while it is touched, and taken over once untouched for the limit", async () => {
    leave(holder({ host: "other-vm", pid: 1 }), 60_000);
    const err = await RunLock.acquire(dir, "run").catch((e) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/another dr-sync run \(pid 1, started [^)]+\) on host other-vm, touched 60 s ago \(taken over after 10 minutes untouched\), holds .*lock; this run exits without touching anything/);
    leave(holder({ host: "other-vm", pid: 1 }), OTHER_HOST_LOCK_STALE_MS + 1000);
    const lock = await RunLock.acquire(dir, "run");
    expect(lock.stale).toMatchObject({ host: "other-vm" });
    await lock.release();
  });

  test("another host's heartbeat keeps its lock held however old the lock file; a heartbeat not of that holder does not", async () => {
    const other = holder({ host: "other-vm", pid: 1 });
    leave(other, OTHER_HOST_LOCK_STALE_MS * 2);
    writeFileSync(join(dir, "lock.beat"), JSON.stringify({ pid: other.pid, host: other.host, startedAt: other.startedAt }));
    const err = await RunLock.acquire(dir, "run").catch((e) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(err.message).toMatch(/on host other-vm, touched 0 s ago/);
    writeFileSync(join(dir, "lock.beat"), JSON.stringify({ pid: 2, host: "other-vm", startedAt: other.startedAt }));
    const lock = await RunLock.acquire(dir, "run");
    expect(lock.stale).toMatchObject({ host: "other-vm" });
    await lock.release();
  });

  test("the holder writes its heartbeat while it holds the lock, and removes it with the lock", async () => {
    const lock = await RunLock.acquire(dir, "run", 20);
    await new Promise((r) => setTimeout(r, 200));
    const info = JSON.parse(readFileSync(join(dir, "lock"), "utf8")) as LockInfo;
    expect(JSON.parse(readFileSync(join(dir, "lock.beat"), "utf8"))).toEqual({ pid: info.pid, host: info.host, startedAt: info.startedAt });
    await lock.release();
    expect(existsSync(join(dir, "lock.beat"))).toBe(false);
  });

  test("a heartbeat that cannot be read whole counts as a sign of life: the lock is held, never stolen", async () => {
    leave(holder({ host: "other-vm", pid: 1 }), OTHER_HOST_LOCK_STALE_MS * 2);
    writeFileSync(join(dir, "lock.beat"), '{"pid":');
    const err = await RunLock.acquire(dir, "run").catch((e) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(err.exitCode).toBe(3);
  });

  test("a holder whose lock was taken over stops its heartbeat, so it keeps no one else's lock alive", async () => {
    const lock = await RunLock.acquire(dir, "run", 20);
    const other = holder({ host: "other-vm", pid: 7 });
    leave(other);
    const foreign = JSON.stringify({ pid: other.pid, host: other.host, startedAt: other.startedAt });
    writeFileSync(join(dir, "lock.beat"), foreign);
    await new Promise((r) => setTimeout(r, 200));
    expect(readFileSync(join(dir, "lock.beat"), "utf8")).toBe(foreign);
    await lock.release();
    expect(existsSync(join(dir, "lock"))).toBe(true);
  });

  test("a held lock records this boot and process start, and release removes only its own", async () => {
    const lock = await RunLock.acquire(dir, "run");
    const info = JSON.parse(readFileSync(join(dir, "lock"), "utf8")) as LockInfo;
    expect(info.pid).toBe(process.pid);
    expect(info.pidStart).toBe(processStart(process.pid));
    // Someone else's lock in its place (taken over as left): not ours to remove.
    leave({ ...info, startedAt: "2026-12-02T00:00:00.000Z" });
    await lock.release();
    expect(existsSync(join(dir, "lock"))).toBe(true);
  });
});
