import { readFileSync, writeFileSync } from "node:fs";
import { BenchResult } from "./run-bench";
import { summarizeRuns } from "./summary";
import { Panel, renderChart } from "./svg-chart";

/** dr-sync's peak RSS at one container size, from one bench result. */
export interface RssPoint {
  /** Which build or setting measured it, e.g. "main" or "engine". */
  readonly series: string;
  readonly blobs: number;
  readonly fullMiB: number | null;
  readonly noopMiB: number | null;
}

const SERIES_COLORS = ["#0072b2", "#009e73", "#d55e00", "#cc79a7"];

/** The points of one bench result: one per workload of many small blobs (shapes and scale). Pure. */
export function rssPoints(series: string, result: Pick<BenchResult, "runs" | "workloads">): RssPoint[] {
  const summaries = summarizeRuns(result.runs).filter((s) => s.tool === "dr-sync");
  const peak = (w: string, p: string) => summaries.find((s) => s.workload === w && s.phase === p)?.maxRssMiB?.median ?? null;
  return result.workloads.filter((w) => w.name !== "large").map((w) => ({ series, blobs: w.blobs, fullMiB: peak(w.name, "full"), noopMiB: peak(w.name, "noop") }));
}

/** Two panels, full and no-op cycle, one bar per series and container size, smallest first. Pure. */
export function renderRssByCount(title: string, points: readonly RssPoint[]): string {
  const series = [...new Set(points.map((p) => p.series))];
  const sorted = [...points].sort((a, b) => a.blobs - b.blobs || series.indexOf(a.series) - series.indexOf(b.series));
  const bars = (pick: (p: RssPoint) => number | null) => sorted.map((p) => ({
    label: `${p.blobs >= 1000 ? `${p.blobs / 1000}k` : p.blobs} ${p.series}`, value: pick(p), color: SERIES_COLORS[series.indexOf(p.series) % SERIES_COLORS.length],
  }));
  const panels: Panel[] = [
    { title: "full cycle: peak RSS", unit: "MiB", bars: bars((p) => p.fullMiB) },
    { title: "no-op cycle: peak RSS", unit: "MiB", bars: bars((p) => p.noopMiB) },
  ];
  return renderChart(title, panels, 2);
}

/** `node build/bench-scale-chart.js OUT.svg SERIES=result.json ...`: the chart of docs/benchmarks.md's scale section. */
if (require.main === module) {
  const [out, ...inputs] = process.argv.slice(2);
  if (!out || !inputs.length || inputs.some((i) => !i.includes("="))) {
    process.stderr.write("usage: node build/bench-scale-chart.js OUT.svg SERIES=result.json [SERIES=result.json ...]\n");
    process.exit(2);
  }
  const points = inputs.flatMap((arg) => {
    const [series, file] = arg.split(/=(.*)/s, 2);
    return rssPoints(series, JSON.parse(readFileSync(file, "utf8")) as BenchResult);
  });
  writeFileSync(out, renderRssByCount("dr-sync peak RSS by container size (Azurite, one 2-core machine)", points));
  process.stdout.write(`${points.map((p) => `${p.series} ${p.blobs}: full ${p.fullMiB?.toFixed(0)} MiB, no-op ${p.noopMiB?.toFixed(0)} MiB`).join("\n")}\n`);
}
