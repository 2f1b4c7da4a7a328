import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseGnuTime } from "./gnu-time";

export const GNU_TIME = "/usr/bin/time";

/** One measured process: its outcome, wall time, and (with GNU time installed) peak RSS and CPU time. */
export interface Measured {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  readonly maxRssKiB: number | null;
  readonly cpuSeconds: number | null;
  /** Of `cpuSeconds`, the time in the kernel. */
  readonly systemSeconds?: number | null;
}

export interface MeasureOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** The process (with GNU time, both) is killed after this long and the result marks the failure. Only a guard
   *  against a hung tool: on Azurite a 100,000-blob full cycle takes over an hour. @default 3 hours */
  readonly timeoutMs?: number;
}

/**
 * Runs a command to completion under `/usr/bin/time -v` (when it exists) so its peak RSS is known. The wall
 * time is taken here, around the whole process, so every tool pays the same start-up.
 */
export async function runMeasured(cmd: string, args: readonly string[], opts: MeasureOptions): Promise<Measured> {
  const useTime = existsSync(GNU_TIME);
  const dir = useTime ? mkdtempSync(join(tmpdir(), "bench-time-")) : undefined;
  const report = dir ? join(dir, "time.txt") : undefined;
  const [file, argv] = report ? [GNU_TIME, ["-v", "-o", report, cmd, ...args]] : [cmd, [...args]];
  const started = process.hrtime.bigint();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, argv, { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      // The tool first: killing only GNU time in front of it would leave the tool running.
      if (child.pid) spawnSync("pkill", ["-KILL", "-P", String(child.pid)]);
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 3 * 60 * 60_000);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  let maxRssKiB: number | null = null;
  let cpuSeconds: number | null = null;
  let systemSeconds: number | null = null;
  if (report && dir) {
    const t = existsSync(report) ? parseGnuTime(readFileSync(report, "utf8")) : undefined;
    rmSync(dir, { recursive: true, force: true });
    maxRssKiB = t?.maxRssKiB ?? null;
    cpuSeconds = t?.userSeconds != null && t.systemSeconds != null ? t.userSeconds + t.systemSeconds : null;
    systemSeconds = t?.systemSeconds ?? null;
  }
  return { code, stdout, stderr, wallMs, maxRssKiB, cpuSeconds, systemSeconds };
}
