import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";
import { objectKey } from "../runtime/src/staging/object-path";
import { runMeasured } from "./measure";
import { DR_SYNC_BUNDLE } from "./peers/dr-sync";

/**
 * `node build/bench-kept-list.js [--sizes 10000,100000] [--flags unit,none] [--work DIR]` (after `npm run build`):
 * `dr-sync retention list --json` over a retention area holding N kept copies in one day's folder (what a mass
 * deletion leaves), each manifest as the runtime writes it; the target's versions are off (no storage is
 * contacted). Prints wall time and peak RSS (GNU time) per size and Node.js flag set: memory should not grow
 * with N.
 */
async function main(): Promise<void> {
  const opt = (name: string, def: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
  };
  const sizes = opt("sizes", "10000,100000").split(",").map(Number);
  const flagSets = opt("flags", "unit,none").split(",");
  const work = resolve(opt("work", "bench/work/kept-list"));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || flagSets.some((f) => f !== "unit" && f !== "none")) {
    throw new Error("usage: --sizes N,N... (whole numbers) --flags unit,none --work DIR");
  }
  for (const size of sizes) {
    const dir = join(work, String(size));
    rmSync(dir, { recursive: true, force: true });
    const folder = join(dir, "staging", "retention", "2026-11-30", "source", "images");
    mkdirSync(folder, { recursive: true });
    mkdirSync(join(dir, "state"), { recursive: true });
    const start = Date.parse("2026-11-30T00:00:00.000Z");
    for (let i = 0; i < size; i++) {
      const name = `folder-${i % 50}/item-${i}.json`;
      const t = start + i * 37;
      const entry = { name, srcEtag: `"0x8D${i}"`, size: 4096, lastModified: "2026-11-01T00:00:00.000Z", kind: "BlockBlob",
        props: { contentType: "application/json", contentMD5: "abcdefghijklmnopqrstuv==" }, metadata: { gen: "0", origin: "bench" }, dataFile: "x.bin" };
      writeFileSync(join(folder, `${objectKey(name)}.${t}.json`), JSON.stringify({ reason: "deleted at source", retainedAt: new Date(t).toISOString(), entry }) + "\n");
    }
    const config = join(dir, "dr-sync.json");
    writeFileSync(config, JSON.stringify({
      source: { blobEndpoint: "http://127.0.0.1:9/source/", sasEnv: "BENCH_SOURCE_SAS" }, target: { blobEndpoint: "http://127.0.0.1:9/target/", sasEnv: "BENCH_TARGET_SAS" },
      containers: ["images"], stagingDir: join(dir, "staging"), stateDir: join(dir, "state"), allowInsecureHttp: true, versionsContainer: null,
    }));
    const env = { ...process.env, BENCH_SOURCE_SAS: "sv=2017-11-09&sig=unused", BENCH_TARGET_SAS: "sv=2017-11-09&sig=unused" };
    for (const flags of flagSets) {
      const nodeArgs = flags === "unit" ? [...RUNTIME_NODE_FLAGS] : [];
      const m = await runMeasured(pinnedNodeBinary(), [...nodeArgs, DR_SYNC_BUNDLE, "retention", "list", "--json", "--config", config], { env });
      const listed = m.code === 0 ? (JSON.parse(m.stdout) as unknown[]).length : 0;
      process.stdout.write(`${String(size).padStart(8)} kept  ${flags.padEnd(4)}  exit ${m.code}  listed ${listed}  peak RSS ${m.maxRssKiB === null ? "?" : (m.maxRssKiB / 1024).toFixed(1)} MiB  ${(m.wallMs / 1000).toFixed(2)} s\n`);
      if (m.code !== 0) process.stdout.write(m.stderr.slice(-1500));
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
