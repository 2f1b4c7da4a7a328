import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";
import { startLocalSites } from "../tools/azurite/local-sites";
import { runMeasured } from "./measure";
import { DR_SYNC_BUNDLE } from "./peers/dr-sync";
import { uploadBlobs } from "./seed-data";
import { generateBlobs } from "./workload";

/**
 * `node build/bench-memory-scale.js [--sizes 5000,100000] [--noops 2] [--flags unit,none] [--work DIR]` (after
 * `npm run build`): issue 10's flat-memory check. For each size, a flat container of 1 KiB blobs is seeded once
 * (kept in DIR's Azurite for the next run), then for each flag set: a full cycle into an emptied target with fresh
 * state, then NOOPS unchanged cycles, each `dr-sync run --config F` on the pinned Node.js under GNU time. Prints
 * peak RSS per cycle and the ratio of the largest size to the smallest, and writes them to DIR/results.json.
 *
 * Azurite's default metadata store scans every blob per request (seeding 20,000 took 540 s): set AZURITE_DB to a
 * MySQL/MariaDB database (`scripts/bench-mariadb.sh` sets one up from Debian's packages) and Azurite keeps its
 * metadata there. One Azurite holds both accounts: memory, not time, is measured.
 */
async function main(): Promise<void> {
  const opt = (name: string, def: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
  };
  const sizes = opt("sizes", "5000,100000").split(",").map(Number);
  const noops = Number(opt("noops", "2"));
  const flagSets = opt("flags", "unit,none").split(",");
  const work = resolve(opt("work", "bench/work/memory-scale"));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(noops) || flagSets.some((f) => f !== "unit" && f !== "none")) {
    throw new Error("usage: --sizes N,N... (whole numbers) --noops N --flags unit,none --work DIR");
  }
  if (!process.env.AZURITE_DB) process.stdout.write("AZURITE_DB is not set: Azurite's default store will be slow above ~10,000 blobs\n");
  mkdirSync(work, { recursive: true });
  const sites = await startLocalSites({ dataDir: join(work, "azurite") });
  const rows: { blobs: number; flags: string; cycle: string; peakRssMiB: number | null; wallS: number; exit: number | null }[] = [];
  try {
    for (const size of sizes) {
      const container = `mem-flat-${size}`;
      const src = sites.source.container(container);
      let present = 0;
      if (await src.exists()) for await (const _ of src.listBlobsFlat()) present++;
      if (present !== size) {
        await src.deleteIfExists();
        await waitUntilGone(src);
        await src.create();
        const t0 = Date.now();
        await uploadBlobs(src, generateBlobs(size, 1024, `mem${size}`, 0, "flat"), 16);
        process.stdout.write(`seeded ${size} blobs in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      }
      for (const flags of flagSets) {
        const dir = join(work, `run-${size}-${flags}`);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        const dst = sites.target.container(container);
        await dst.deleteIfExists();
        await waitUntilGone(dst);
        const config = join(dir, "dr-sync.json");
        writeFileSync(config, JSON.stringify({
          source: { blobEndpoint: sites.source.blobEndpoint, sasEnv: "DR_SOURCE_SAS" }, target: { blobEndpoint: sites.target.blobEndpoint, sasEnv: "DR_TARGET_SAS" },
          containers: [container], stagingDir: join(dir, "staging"), stateDir: join(dir, "state"), allowInsecureHttp: true,
        }));
        const env = { ...process.env, DR_SOURCE_SAS: sites.source.sas("rl"), DR_TARGET_SAS: sites.target.sas("rwdlac") };
        const nodeArgs = flags === "unit" ? [...RUNTIME_NODE_FLAGS] : [];
        for (const cycle of ["full", ...Array.from({ length: noops }, () => "noop")]) {
          const m = await runMeasured(pinnedNodeBinary(), [...nodeArgs, DR_SYNC_BUNDLE, "run", "--config", config], { env });
          const peakRssMiB = m.maxRssKiB === null ? null : Math.round(m.maxRssKiB / 102.4) / 10;
          rows.push({ blobs: size, flags, cycle, peakRssMiB, wallS: Math.round(m.wallMs / 100) / 10, exit: m.code });
          process.stdout.write(`${String(size).padStart(7)} ${flags.padEnd(4)} ${cycle.padEnd(4)} exit ${m.code}  peak RSS ${peakRssMiB} MiB  ${(m.wallMs / 1000).toFixed(1)} s\n`);
          if (m.code !== 0) process.stdout.write(m.stderr.slice(-1500));
        }
      }
    }
  } finally {
    await sites.stop();
  }
  const [small, large] = [Math.min(...sizes), Math.max(...sizes)];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const at = (blobs: number, flags: string, cycle: string) => median(rows.filter((r) => r.blobs === blobs && r.flags === flags && r.cycle === cycle && r.peakRssMiB !== null).map((r) => r.peakRssMiB as number));
  const ratios = flagSets.flatMap((flags) => ["full", ...(noops ? ["noop"] : [])].map((cycle) => ({ flags, cycle, small: at(small, flags, cycle), large: at(large, flags, cycle) })))
    .map((r) => ({ ...r, ratio: r.small && r.large ? Math.round((r.large / r.small) * 100) / 100 : null }));
  for (const r of ratios) process.stdout.write(`${r.cycle.padEnd(4)} ${r.flags.padEnd(4)}: ${r.small} MiB at ${small}, ${r.large} MiB at ${large}: ${r.ratio}× (target ≤ 1.15)\n`);
  writeFileSync(join(work, "results.json"), JSON.stringify({ at: new Date().toISOString(), azuriteDb: !!process.env.AZURITE_DB, rows, ratios }, null, 2) + "\n");
}

/** A deleted container's name stays taken for a moment (Azurite, like the service): wait until it is free. */
async function waitUntilGone(cc: { exists(): Promise<boolean> }): Promise<void> {
  for (let i = 0; i < 300 && (await cc.exists()); i++) await new Promise((r) => setTimeout(r, 100));
}

main().catch((err) => {
  process.stderr.write(`memory-scale: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
