import { Fidelity } from "./fidelity";
import { ToolName } from "./peers/peer";
import { RequestCounts } from "./request-counter";
import { BenchResult, PhaseName, PhaseRun, WorkloadName } from "./run-bench";
import { ratio, Spread, summarize } from "./stats";

/** One tool in one phase of one workload, over its repetitions. */
export interface PhaseSummary {
  readonly workload: WorkloadName;
  readonly phase: PhaseName;
  readonly tool: ToolName;
  readonly runs: number;
  readonly failed: number;
  readonly error?: string;
  readonly wallSeconds: Spread | null;
  readonly maxRssMiB: Spread | null;
  readonly cpuSeconds: Spread | null;
  /** Azurite's CPU seconds during the cycle. */
  readonly serviceCpuSeconds: Spread | null;
  /** The repetition with the median total, so the kinds add up. */
  readonly requests: RequestCounts | null;
  readonly copied: number | null;
  readonly deleted: number | null;
  /** The last repetition's check. */
  readonly fidelity?: Fidelity;
}

/** Groups the runs by workload, phase and tool. Pure. */
export function summarizeRuns(runs: readonly PhaseRun[]): PhaseSummary[] {
  const groups = new Map<string, PhaseRun[]>();
  for (const r of runs) {
    const key = `${r.workload}|${r.phase}|${r.tool}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const ok = rs.filter((r) => r.ok);
    const withReq = ok.filter((r) => r.requests).sort((a, b) => a.requests!.total - b.requests!.total);
    const last = rs[rs.length - 1];
    return {
      workload: rs[0].workload, phase: rs[0].phase, tool: rs[0].tool,
      runs: rs.length, failed: rs.length - ok.length, error: rs.find((r) => !r.ok)?.error,
      wallSeconds: summarize(ok.map((r) => (r.wallMs == null ? null : r.wallMs / 1000))),
      maxRssMiB: summarize(ok.map((r) => (r.maxRssKiB == null ? null : r.maxRssKiB / 1024))),
      cpuSeconds: summarize(ok.map((r) => r.cpuSeconds)),
      serviceCpuSeconds: summarize(ok.map((r) => r.serviceCpuSeconds)),
      requests: withReq.length ? withReq[Math.floor((withReq.length - 1) / 2)].requests : null,
      copied: ok[0]?.copied ?? null,
      deleted: ok[0]?.deleted ?? null,
      fidelity: [...rs].reverse().find((r) => r.fidelity)?.fidelity ?? last.fidelity,
    };
  });
}

export type Verdict = "met" | "missed" | "not measured";

/** One of the issue's targets, checked against this run. */
export interface TargetCheck {
  readonly target: string;
  readonly verdict: Verdict;
  /** The measured numbers behind the verdict. */
  readonly measured: string;
}

/** How much a peak may grow from 5,000 blobs to the scale workload and still count as flat (issue 10). */
export const FLAT_RSS_GROWTH = 1.15;

/** Issue 10's time targets, as shares of a peer's median in the same run. */
export const TIME_TARGETS = { fullVsRecipe: 0.75, noopVsRecipe: 0.15, noopVsRclone: 0.5, changedVsRclone: 0.75 } as const;

/** Checks dr-sync's targets against the recipe and rclone, from the medians of the same run, on every workload. Pure. */
export function checkTargets(result: Pick<BenchResult, "runs" | "workloads">, summaries = summarizeRuns(result.runs)): TargetCheck[] {
  const find = (w: WorkloadName, p: PhaseName, t: ToolName) => summaries.find((s) => s.workload === w && s.phase === p && s.tool === t);
  const wall = (w: WorkloadName, p: PhaseName, t: ToolName) => find(w, p, t)?.wallSeconds?.median ?? null;
  const phaseRss = (w: WorkloadName, p: PhaseName, t: ToolName) => find(w, p, t)?.maxRssMiB?.median ?? null;
  const rss = (w: WorkloadName, t: ToolName) => {
    const xs = summaries.filter((s) => s.workload === w && s.tool === t && s.maxRssMiB).map((s) => s.maxRssMiB!.median);
    return xs.length ? Math.max(...xs) : null;
  };
  const f2 = (n: number | null) => (n == null ? "?" : n.toFixed(2));
  const out: TargetCheck[] = [];
  const cmp = (target: string, value: number | null, limit: number | null, factor: number, what: string) => {
    const r = ratio(value, limit);
    const verdict: Verdict = r == null ? "not measured" : r <= factor ? "met" : "missed";
    out.push({ target, verdict, measured: `${what}: dr-sync ${f2(value)} vs ${f2(limit)} (${r == null ? "?" : `${r.toFixed(2)}×`})` });
  };
  const T = TIME_TARGETS;
  for (const w of result.workloads) {
    if (w.name === "scale") continue;
    if (w.phases.includes("full")) cmp(`${w.name}: full first run ≤ ${T.fullVsRecipe}× the recipe's time`, wall(w.name, "full", "dr-sync"), wall(w.name, "full", "recipe"), T.fullVsRecipe, "seconds");
    if (w.name === "large") continue;
    cmp(`${w.name}: no-op run ≤ ${T.noopVsRecipe}× the recipe's`, wall(w.name, "noop", "dr-sync"), wall(w.name, "noop", "recipe"), T.noopVsRecipe, "seconds");
    cmp(`${w.name}: no-op run ≤ ${T.noopVsRclone}× rclone's`, wall(w.name, "noop", "dr-sync"), wall(w.name, "noop", "rclone"), T.noopVsRclone, "seconds");
    if (w.phases.includes("changed")) {
      cmp(`${w.name}: 1%-changed run ≤ ${T.changedVsRclone}× rclone's`, wall(w.name, "changed", "dr-sync"), wall(w.name, "changed", "rclone"), T.changedVsRclone, "seconds");
    }
  }
  for (const w of result.workloads) {
    if (w.name === "scale") continue;
    cmp(`${w.name}: peak RSS ≤ 0.5× the recipe's`, rss(w.name, "dr-sync"), rss(w.name, "recipe"), 0.5, "MiB, highest phase median");
  }
  // The scale run's blobs are named like the nested workload's, so that is the 5,000-blob yardstick.
  const base: WorkloadName | undefined = (["nested", "folders", "flat"] as const).find((n) => result.workloads.some((w) => w.name === n));
  if (base && result.workloads.some((w) => w.name === "scale")) {
    for (const p of ["full", "noop"] as const) {
      cmp(`${p} cycle's peak RSS at scale ≤ ${FLAT_RSS_GROWTH}× at ${base}'s 5,000 blobs`, phaseRss("scale", p, "dr-sync"), phaseRss(base, p, "dr-sync"), FLAT_RSS_GROWTH, `MiB, scale vs ${base}`);
    }
  }
  const fids = summaries.filter((s) => s.tool === "dr-sync" && s.fidelity).map((s) => s.fidelity!);
  if (fids.length) {
    const all = fids.every((f) => f.identical);
    const worst = fids.reduce((a, f) => Math.min(a, f.contentType / Math.max(1, f.sourceBlobs), f.metadata / Math.max(1, f.sourceBlobs)), 1);
    out.push({ target: "fidelity: 100% of bytes, content types and metadata", verdict: all ? "met" : "missed",
      measured: `${fids.length} checks, ${fids.filter((f) => f.identical).length} identical; lowest share ${(worst * 100).toFixed(1)}%` });
  } else {
    out.push({ target: "fidelity: 100% of bytes, content types and metadata", verdict: "not measured", measured: "no check ran" });
  }
  return out;
}
