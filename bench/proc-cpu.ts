import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; null where there is no /proc.
 * The bench reads Azurite's before and after each cycle: on one machine the service's own work is part of every
 * tool's wall time, and the difference between tools is only what the service did not have to do.
 */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return parseProcStatCpu(readFileSync(`/proc/${pid}/stat`, "utf8"), clockTicks());
  } catch {
    return null;
  }
}

/** utime + stime of a `/proc/<pid>/stat` line, in seconds. The command name may hold spaces and parentheses. Pure. */
export function parseProcStatCpu(stat: string, ticksPerSecond: number): number | null {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) && fields.length > 12 ? (utime + stime) / ticksPerSecond : null;
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}
