import { Fidelity, pct } from "./fidelity";
import { peerLabel } from "./labels";
import { ToolName } from "./peers/peer";
import { BenchResult, PhaseName, WORKLOAD_ORDER, WorkloadName } from "./run-bench";
import { Spread } from "./stats";
import { PhaseSummary, TargetCheck } from "./summary";
import { formatValue, Panel, renderChart } from "./svg-chart";

export const TOOL_COLORS: Record<ToolName, string> = { recipe: "#8c8c8c", rclone: "#e69f00", "dr-sync": "#0072b2" };
const PHASE_TITLES: Record<PhaseName, string> = { full: "full first run", noop: "no-op run", changed: "changed run" };

const LAYOUTS: Partial<Record<WorkloadName, string>> = {
  nested: "names two folders deep (16 × 64 folders)",
  folders: "50 folders of 100",
  flat: "every blob at the top level",
};

export function describeWorkload(w: BenchResult["workloads"][number], changePercent: number): string {
  const size = w.blobBytes >= 1048576 ? `${w.blobBytes / 1048576} MiB` : `${w.blobBytes / 1024} KiB`;
  const layout = LAYOUTS[w.name] ? ` in ${LAYOUTS[w.name]}` : "";
  const extra = w.phases.includes("changed") ? `; changed run after ${changePercent}% of blobs changed, ${changePercent}% added, ${changePercent}% deleted` : "";
  return `${w.blobs.toLocaleString("en-US")} × ${size}${layout}, ${w.reps} repetition(s)${extra}; fidelity check on ${w.fidelityBytes ? "bytes (SHA-256), content type, metadata" : "listings (size, content type, metadata)"}`;
}

function spreadCell(s: Spread | null, digits = 2): string {
  if (!s) return "n/a";
  const m = s.median.toFixed(digits);
  return s.n > 1 ? `${m} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : m;
}

export function fidelityCell(f: Fidelity | undefined): string {
  if (!f) return "";
  if (f.identical) return "identical";
  const parts = [`bytes ${pct(f.bytes, f).toFixed(0)}%`, `type ${pct(f.contentType, f).toFixed(0)}%`, `meta ${pct(f.metadata, f).toFixed(0)}%`];
  if (f.missing) parts.push(`${f.missing} missing`);
  if (f.extra) parts.push(`${f.extra} extra`);
  return parts.join(" · ");
}

function requestsCell(s: PhaseSummary): string {
  const r = s.requests;
  if (!r) return "n/a";
  const kinds = (["list", "read", "head", "write", "delete", "other"] as const).filter((k) => r[k]).map((k) => `${k} ${r[k]}`);
  return `${r.total}${kinds.length ? ` (${kinds.join(", ")})` : ""}`;
}

/** Rows in the order workload → phase → tool. */
export function orderSummaries(summaries: readonly PhaseSummary[], tools: readonly ToolName[]): PhaseSummary[] {
  const pOrder: PhaseName[] = ["full", "noop", "changed"];
  return [...summaries].sort((a, b) => WORKLOAD_ORDER.indexOf(a.workload) - WORKLOAD_ORDER.indexOf(b.workload) || pOrder.indexOf(a.phase) - pOrder.indexOf(b.phase) ||
    tools.indexOf(a.tool) - tools.indexOf(b.tool));
}

/** A fixed-width table for the terminal. Pure. */
export function consoleTable(summaries: readonly PhaseSummary[], tools: readonly ToolName[]): string {
  const head = ["workload", "phase", "tool", "wall s (min–max)", "peak RSS MiB", "CPU s", "Azurite CPU s", "requests", "copied", "deleted", "fidelity"];
  const rows = orderSummaries(summaries, tools).map((s) => [
    s.workload, s.phase, s.tool, s.failed === s.runs ? "FAILED" : spreadCell(s.wallSeconds), spreadCell(s.maxRssMiB, 0), spreadCell(s.cpuSeconds, 1), spreadCell(s.serviceCpuSeconds, 1),
    s.requests ? String(s.requests.total) : "n/a", String(s.copied ?? "?"), String(s.deleted ?? "?"), fidelityCell(s.fidelity),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The chart's panels: time per workload and phase, then peak memory per workload. */
export function chartPanels(summaries: readonly PhaseSummary[], result: Pick<BenchResult, "workloads">, tools: readonly ToolName[]): Panel[] {
  const bar = (tool: ToolName, s: Spread | null | undefined) => ({ label: tool, value: s?.median ?? null, min: s?.min, max: s?.max, color: TOOL_COLORS[tool] });
  const find = (w: WorkloadName, p: PhaseName, t: ToolName) => summaries.find((s) => s.workload === w && s.phase === p && s.tool === t);
  const panels: Panel[] = [];
  for (const w of result.workloads) {
    for (const p of w.phases) {
      panels.push({ title: `${w.name}: ${PHASE_TITLES[p]}`, unit: "s, median", bars: tools.map((t) => bar(t, find(w.name, p, t)?.wallSeconds)) });
    }
  }
  for (const w of result.workloads) {
    panels.push({ title: `${w.name}: peak RSS`, unit: "MiB", bars: tools.map((t) => {
      const xs = summaries.filter((s) => s.workload === w.name && s.tool === t && s.maxRssMiB);
      const top = xs.sort((a, b) => b.maxRssMiB!.median - a.maxRssMiB!.median)[0];
      return bar(t, top?.maxRssMiB);
    }) });
  }
  return panels;
}

export function renderResultChart(result: Pick<BenchResult, "workloads" | "startedAt">, summaries: readonly PhaseSummary[], tools: readonly ToolName[]): string {
  return renderChart(`dr-sync vs the recipe (AzCopy) and rclone — ${result.startedAt.slice(0, 10)} (shorter is better; whiskers: min–max)`,
    chartPanels(summaries, result, tools));
}

/** The Markdown report: set-up, targets, one table per workload, fidelity details, notes. Pure. */
export function renderMarkdown(result: BenchResult, summaries: readonly PhaseSummary[], targets: readonly TargetCheck[], chartHref: string, notes: readonly string[]): string {
  const tools = (Object.keys(result.versions) as ToolName[]);
  const m = result.machine;
  const lines: string[] = [];
  lines.push(`Run ${result.startedAt} → ${result.finishedAt} on ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}.`);
  lines.push("");
  lines.push(`![benchmark chart](${chartHref})`);
  lines.push("");
  lines.push("| tool | version | how it runs |");
  lines.push("| --- | --- | --- |");
  for (const t of tools) lines.push(`| ${t} | ${result.versions[t]} | ${peerLabel(t, result.drSyncNodeFlags)} |`);
  for (const [t, why] of Object.entries(result.skipped)) lines.push(`| ${t} | — | skipped: ${why} |`);
  lines.push("");
  lines.push("Workloads:");
  lines.push("");
  for (const w of result.workloads) lines.push(`- **${w.name}**: ${describeWorkload(w, result.changePercent)}.`);
  lines.push("");
  lines.push("### Targets (dr-sync, medians of this run)");
  lines.push("");
  lines.push("| target | verdict | measured |");
  lines.push("| --- | --- | --- |");
  for (const t of targets) lines.push(`| ${t.target} | ${t.verdict === "met" ? "✅ met" : t.verdict === "missed" ? "❌ missed" : "— not measured"} | ${t.measured} |`);
  const ordered = orderSummaries(summaries, tools);
  for (const w of result.workloads) {
    lines.push("");
    lines.push(`### ${w.name}`);
    lines.push("");
    lines.push("| phase | tool | wall s, median (min–max) | peak RSS MiB | CPU s | Azurite CPU s | requests (median run) | written / deleted at target | fidelity |");
    lines.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const s of ordered.filter((x) => x.workload === w.name)) {
      const wall = s.failed === s.runs ? `failed: ${(s.error ?? "").replace(/\|/g, "\\|").slice(0, 160)}` : `${spreadCell(s.wallSeconds)}${s.failed ? ` (${s.failed} failed)` : ""}`;
      lines.push(`| ${s.phase} | ${s.tool} | ${wall} | ${spreadCell(s.maxRssMiB, 0)} | ${spreadCell(s.cpuSeconds, 1)} | ${spreadCell(s.serviceCpuSeconds, 1)} | ${requestsCell(s)} | ${s.copied ?? "?"} / ${s.deleted ?? "?"} | ${fidelityCell(s.fidelity)} |`);
    }
  }
  const lossy = summaries.filter((s) => s.fidelity && !s.fidelity.identical && s.fidelity.examples.length);
  if (lossy.length) {
    lines.push("");
    lines.push("### What the fidelity check found");
    lines.push("");
    const seen = new Set<string>();
    for (const s of lossy) {
      const key = `${s.tool}|${s.workload}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(`- **${s.tool}**, ${s.workload} ${s.phase}: ${s.fidelity!.examples.slice(0, 3).map((e) => `\`${e.replace(/`/g, "'")}\``).join("; ")}`);
    }
  }
  if (notes.length) {
    lines.push("");
    lines.push("### Notes");
    lines.push("");
    for (const n of notes) lines.push(`- ${n}`);
  }
  return lines.join("\n") + "\n";
}

export { formatValue };
