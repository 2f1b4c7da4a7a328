import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { startLocalSites } from "../tools/azurite/local-sites";
import { runMeasured } from "./measure";
import { processCpuSeconds } from "./proc-cpu";
import { DR_SYNC_BUNDLE } from "./peers/dr-sync";
import { deleteBlobs, uploadBlobs } from "./seed-data";
import { changeSet, generateBlobs, Shape, SHAPES } from "./workload";

/**
 * `node build/bench-probe.js SHAPE [COUNT] [REPS] [KIB]` (after `npm run build`): dr-sync alone on one shape, to find
 * where its time and memory go.
 * The sites are seeded once; then a full run, REPS no-op runs and REPS changed runs (1% of other names
 * changed, added and deleted at the source before each), each printed with wall time, peak RSS and CPU. PROBE_SITES=one
 * puts both accounts in one Azurite (default: one Azurite per site, as the bench); PROBE_CONFIG is JSON merged into
 * dr-sync's config (e.g. `{"versionsContainer":null}`). Node.js flags for dr-sync come from PROBE_NODE_ARGS (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`), so a profile and a plain run use the same command; PROBE_RUN_ARGS are added to
 * dr-sync's own (e.g. `--log-level debug`), and PROBE_STDERR=P keeps each cycle's stderr in `P-<cycle>-<n>.log`.
 * PROBE_VARIANTS="--a|--b --c" adds REPS rounds of no-op cycles after the plain ones, each round one cycle without
 * and one with each variant's flags (added to PROBE_NODE_ARGS), interleaved so that a machine's drift hits all alike;
 * PROBE_ALTERNATE="A.js|B.js" makes the changed cycles take turns between two builds of the bundle (before/after).
 * Each cycle's line ends with the CPU each Azurite spent during it (the source's first) and that as a share of the
 * cycle's wall time: near 100% means that site's Azurite, one thread, was what the cycle waited for.
 * No proxy, no peers.
 */
async function main(): Promise<void> {
  const [shapeArg = "folders", countArg = "5000", repsArg = "3", kibArg = "4"] = process.argv.slice(2);
  const shape = shapeArg as Shape;
  if (!SHAPES.includes(shape)) throw new Error(`shape must be one of ${SHAPES.join(", ")} (got "${shapeArg}")`);
  const count = Number(countArg);
  const reps = Number(repsArg);
  const nodeArgs = (process.env.PROBE_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const runArgs = (process.env.PROBE_RUN_ARGS ?? "").split(/\s+/).filter(Boolean);
  let cycles = 0;
  const extraConfig = JSON.parse(process.env.PROBE_CONFIG ?? "{}") as Record<string, unknown>;
  const work = mkdtempSync(join(tmpdir(), "bench-probe-"));
  // On disk, as the bench: Azurite's in-memory store answered the same listings 4-7 times slower here.
  const sites = await startLocalSites({ dataDir: join(work, "azurite"), separate: process.env.PROBE_SITES !== "one" });
  try {
    const container = `probe-${shape}`;
    const blobs = generateBlobs(count, Number(kibArg) * 1024, shape, 0, shape);
    const src = sites.source.container(container);
    await src.create();
    await sites.target.container(container).create();
    const t0 = Date.now();
    await uploadBlobs(src, blobs, 32);
    process.stdout.write(`seeded ${count} ${shape} blobs in ${((Date.now() - t0) / 1000).toFixed(1)}s; node args: ${nodeArgs.join(" ") || "(none)"}\n`);
    const config = (dir: string) => {
      const file = join(dir, "dr-sync.json");
      writeFileSync(file, JSON.stringify({
        source: { blobEndpoint: sites.source.blobEndpoint, sasEnv: "DR_SOURCE_SAS" }, target: { blobEndpoint: sites.target.blobEndpoint, sasEnv: "DR_TARGET_SAS" },
        containers: [container], stagingDir: join(dir, "staging"), stateDir: join(dir, "state"), allowInsecureHttp: true,
        ...extraConfig,
      }));
      return file;
    };
    const env = { ...process.env, DR_SOURCE_SAS: sites.source.sas("rl"), DR_TARGET_SAS: sites.target.sas("rwdlac") };
    const cycle = async (label: string, dir: string, command = "run", more: string[] = [], bundle = process.env.PROBE_BUNDLE ?? DR_SYNC_BUNDLE) => {
      const azurites = sites.pids;
      const cpu0 = azurites.map(processCpuSeconds);
      const m = await runMeasured(pinnedNodeBinary(), [...nodeArgs, ...more, bundle, command, "--config", config(dir), ...runArgs], { env });
      const served = azurites.map((pid, i) => {
        const before = cpu0[i];
        const after = processCpuSeconds(pid);
        return before == null || after == null ? "?" : `${(after - before).toFixed(2)} s (${Math.round((after - before) / (m.wallMs / 1000) * 100)}%)`;
      });
      if (process.env.PROBE_STDERR) writeFileSync(`${process.env.PROBE_STDERR}-${label}-${++cycles}.log`, m.stderr);
      const lines = m.stderr.split("\n").filter(Boolean).length;
      process.stdout.write(`${label.padEnd(8)} exit ${m.code} ${(m.wallMs / 1000).toFixed(2).padStart(6)} s  rss ${Math.round((m.maxRssKiB ?? 0) / 1024)} MiB  cpu ${m.cpuSeconds?.toFixed(2)} s (sys ${m.systemSeconds?.toFixed(2)})  ${lines} stderr lines  Azurite cpu ${served.join(" / ")}\n`);
      if (m.code !== 0) process.stdout.write(m.stderr.slice(-2000));
    };
    const base = join(work, "base");
    mkdirSync(base);
    if (process.env.PROBE_SPLIT === "1") {
      await cycle("pull", base, "pull");
      await cycle("push", base, "push");
    } else await cycle("full", base);
    for (let r = 0; r < reps; r++) await cycle("noop", base);
    // PROBE_VARIANTS="--a|--b --c": more no-op cycles, each with its own extra Node.js flags, side by side per round.
    const variants = (process.env.PROBE_VARIANTS ?? "").split("|").filter((v) => v.trim());
    for (let r = 0; r < (variants.length ? reps : 0); r++) {
      for (const v of ["", ...variants]) await cycle(`noop ${v || "(base)"}`, base, "run", v.split(/\s+/).filter(Boolean));
    }
    // PROBE_ALTERNATE="A.js|B.js": the changed cycles take turns between bundles (each starts from a converged state).
    const alternate = (process.env.PROBE_ALTERNATE ?? "").split("|").filter(Boolean);
    for (let r = 0; r < reps; r++) {
      // Each changed run touches other names (an offset of 2 per run) and adds new ones, on the state the last left.
      const change = changeSet([...blobs.slice(2 * r), ...blobs.slice(0, 2 * r)], 1, `${shape}-r${r}`, shape);
      await uploadBlobs(src, [...change.changed, ...change.added]);
      await deleteBlobs(src, change.deleted);
      if (alternate.length) await cycle(`changed ${r % alternate.length}`, base, "run", [], alternate[r % alternate.length]);
      else await cycle("changed", base);
    }
  } finally {
    await sites.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`probe: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
