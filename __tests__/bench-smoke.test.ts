// A tiny run of the benchmark harness with dr-sync alone, so `npm run bench` cannot rot unnoticed. The peers
// (AzCopy, rclone) are not needed; timings are never asserted.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_OPTIONS } from "../bench/options";
import { renderMarkdown, renderResultChart } from "../bench/report";
import { runBench } from "../bench/run-bench";
import { checkTargets, summarizeRuns } from "../bench/summary";

test("the harness runs dr-sync through every phase and finds the target identical", async () => {
  const work = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  try {
    const opts = { ...DEFAULT_OPTIONS, reps: 1, small: { count: 50, sizeBytes: 1024 }, large: { count: 1, sizeBytes: 9 * 1048576 }, scale: null,
      changePercent: 4, workDir: work, docsFile: null };
    const measured = await runBench(opts, ["dr-sync"]);
    const runs = measured.runs;
    expect(runs.map((r) => `${r.workload}/${r.phase}`)).toEqual([
      "nested/full", "nested/noop", "nested/changed", "folders/full", "folders/noop", "folders/changed", "flat/full", "flat/noop", "flat/changed",
      "large/full", "large/noop"]);
    for (const r of runs) {
      expect({ phase: `${r.workload}/${r.phase}`, ok: r.ok, error: r.error }).toEqual({ phase: `${r.workload}/${r.phase}`, ok: true, error: undefined });
      expect(r.wallMs).toBeGreaterThan(0);
      expect(r.requests!.total).toBeGreaterThan(0);
    }
    const by = (w: string, p: string) => runs.find((r) => r.workload === w && r.phase === p)!;
    for (const shape of ["nested", "folders", "flat"]) {
      expect(by(shape, "full")).toMatchObject({ copied: 50, deleted: 0, fidelity: { identical: true, sourceBlobs: 50, bytesChecked: true } });
      expect(by(shape, "noop")).toMatchObject({ copied: 0, deleted: 0 });
      // Counted from Azurite's access log: both listings and the status record, no read, no seeding, no marks.
      expect(by(shape, "noop").requests).toMatchObject({ read: 0, delete: 0 });
      expect(by(shape, "noop").requests!.list).toBeGreaterThanOrEqual(2);
      expect(by(shape, "full").requests!.write).toBeGreaterThanOrEqual(50);
      expect(by(shape, "changed")).toMatchObject({ copied: 4, deleted: 2, fidelity: { identical: true, sourceBlobs: 50 } });
    }
    expect(by("large", "full")).toMatchObject({ copied: 1, fidelity: { identical: true } });

    const result = { ...measured, versions: { "dr-sync": "dr-sync test" }, skipped: { recipe: "not installed" } };
    const summaries = summarizeRuns(runs);
    const md = renderMarkdown(result, summaries, checkTargets(result, summaries), "chart.svg", []);
    expect(md).toContain("| recipe | — | skipped: not installed |");
    expect(renderResultChart(result, summaries, ["dr-sync"])).toContain("flat: no-op run");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 180_000);

test("the memory-scale run (issue 10's flat-memory check) measures every cycle and writes the ratios", () => {
  const work = mkdtempSync(join(tmpdir(), "bench-memory-"));
  try {
    // Azurite's default store: small sizes need no database.
    const { AZURITE_DB: _db, ...env } = process.env;
    const r = spawnSync(process.execPath, ["build/bench-memory-scale.js", "--sizes", "20,60", "--noops", "1", "--flags", "unit", "--work", work],
      { encoding: "utf8", env, timeout: 170_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    const out = JSON.parse(readFileSync(join(work, "results.json"), "utf8")) as { rows: { blobs: number; cycle: string; exit: number; peakRssMiB: number }[]; ratios: { cycle: string; ratio: number }[] };
    expect(out.rows.map((x) => `${x.blobs}/${x.cycle}/${x.exit}`)).toEqual(["20/full/0", "20/noop/0", "60/full/0", "60/noop/0"]);
    for (const x of out.rows) expect(x.peakRssMiB).toBeGreaterThan(30);
    expect(out.ratios.map((x) => [x.cycle, typeof x.ratio])).toEqual([["full", "number"], ["noop", "number"]]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 180_000);
