/**
 * Named crash points for the SIGKILL suite: with `DR_SYNC_KILL_AT=<point>[:<n>]` in the environment, the process
 * kills itself (SIGKILL, no clean-up of any kind) the n-th time (default 1st) it passes `point`. Unset, a call is
 * one comparison. The points are the moments between two commits, where a crash is hardest to get right.
 */
export type KillPointName =
  | "staging.after-data-rename"
  | "staging.after-commit-before-removal"
  | "migration.after-tmp-commit"
  | "migration.after-rename"
  | "push.ahead.after-upload"
  | "push.ahead.after-block"
  | "versions.ahead.after-copy"
  | "plan.after-pull";

const wanted = parse(process.env.DR_SYNC_KILL_AT);
let passes = 0;

export function killPoint(point: KillPointName): void {
  if (wanted === undefined || wanted.point !== point) return;
  if (++passes === wanted.nth) process.kill(process.pid, "SIGKILL");
}

function parse(spec: string | undefined): { point: string; nth: number } | undefined {
  if (!spec) return undefined;
  const [point, nth] = spec.split(":");
  return { point, nth: nth ? Math.max(1, Number(nth) || 1) : 1 };
}
