import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";
import { DR_SYNC_BUNDLE } from "./peers/dr-sync";
import { projectRoot } from "./project-root";
import { CountingProxy, startCountingProxy } from "./request-counter";

/** `npm run bench -- --shards 1,2,4 [--blobs 4000] [--out DIR]`: N dr-sync processes against one Azurite. */
export const SHARDS_USAGE = `usage: npm run bench -- --shards 1,2,4 [--blobs 4000] [--prefixes 64] [--out bench/results]

Runs N dr-sync processes at once (one per shard, each with its own state, staging and counting proxy) against one
Azurite, for each N: a first copy into an empty target, then an unchanged cycle. The source has 4 whole containers
(1/16 of the blobs each) and one split container (the other 3/4, across --prefixes top-level prefixes).`;

interface ShardRun {
  readonly index: number;
  readonly seconds: number;
  readonly exitCode: number | null;
  readonly listRequests: number;
  readonly requests: number;
}

interface CycleResult {
  readonly wallSeconds: number;
  readonly shards: ShardRun[];
}

export interface ShardBenchResult {
  readonly startedAt: string;
  readonly blobs: number;
  readonly prefixes: number;
  readonly cores: number;
  readonly byCount: { readonly count: number; readonly firstCopy: CycleResult; readonly unchanged: CycleResult }[];
}

const WHOLE = ["whole-a", "whole-b", "whole-c", "whole-d"];
const BIG = "big";

export async function runShardBench(argv: readonly string[]): Promise<number> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const counts = (opt("--shards") ?? "").split(",").map(Number);
  const blobs = Number(opt("--blobs") ?? 4000);
  const prefixes = Number(opt("--prefixes") ?? 64);
  if (!counts.length || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16) || !Number.isInteger(blobs) || blobs < 100 || !Number.isInteger(prefixes) || prefixes < 1) {
    process.stderr.write(`${SHARDS_USAGE}\n`);
    return 2;
  }
  const log = (l: string) => process.stderr.write(`${l}\n`);
  // In memory: Azurite's on-disk metadata store slows down as it grows, which would be measured instead of dr-sync.
  const sites = await startLocalSites({ inMemory: true });
  const work = mkdtempSync(join(tmpdir(), "drsync-bench-shards-"));
  const proxies: CountingProxy[] = [];
  try {
    const t0 = Date.now();
    await seedSource(sites, blobs, prefixes);
    log(`seeded ${blobs} blobs in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    for (let i = 0; i < Math.max(...counts); i++) proxies.push(await startCountingProxy(sites.port));
    const result: ShardBenchResult = { startedAt: new Date().toISOString(), blobs, prefixes, cores: (await import("node:os")).cpus().length, byCount: [] };
    for (const count of counts) {
      // A fresh target, staging and state for each N: each N makes its own first copy.
      for (const c of [...WHOLE, BIG, "dr-sync-status", "dr-sync-versions"]) await sites.target.container(c).deleteIfExists();
      rmSync(join(work, "staging"), { recursive: true, force: true });
      rmSync(join(work, "state"), { recursive: true, force: true });
      const firstCopy = await cycle(sites, work, proxies, count);
      const unchanged = await cycle(sites, work, proxies, count);
      const failed = [...firstCopy.shards, ...unchanged.shards].filter((s) => s.exitCode !== 0);
      if (failed.length) throw new Error(`N=${count}: shard(s) ${failed.map((s) => `${s.index} (exit ${s.exitCode})`).join(", ")} failed`);
      result.byCount.push({ count, firstCopy, unchanged });
      log(`N=${count}: first copy ${firstCopy.wallSeconds.toFixed(1)}s, unchanged cycle ${unchanged.wallSeconds.toFixed(1)}s`);
    }
    process.stdout.write(`\n${renderShardTable(result)}\n`);
    const outDir = resolve(opt("--out") ?? join(projectRoot(), "bench", "results"));
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `shards-${result.startedAt.replace(/:\d\d\.\d+Z$/, "Z").replace(/:/g, "")}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    log(`wrote ${file}`);
    return 0;
  } finally {
    for (const p of proxies) await p.stop();
    await sites.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The same small blobs as the other workloads use in spirit: JSON-ish bodies of 1 KiB with a content type and metadata. */
async function seedSource(sites: LocalSites, blobs: number, prefixes: number): Promise<void> {
  const wholeEach = Math.floor(blobs / 16);
  const jobs: { container: string; name: string }[] = [];
  for (const c of WHOLE) for (let i = 0; i < wholeEach; i++) jobs.push({ container: c, name: `d${i % 8}/blob-${i}.json` });
  for (let i = jobs.length; i < blobs; i++) jobs.push({ container: BIG, name: `tenant-${String(i % prefixes).padStart(2, "0")}/d${i % 5}/blob-${i}.json` });
  for (const c of [...WHOLE, BIG]) await sites.source.container(c).createIfNotExists();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < jobs.length) {
      const { container, name } = jobs[next++];
      const body = Buffer.from(`${name}\n`.padEnd(1024, "x"));
      await sites.source.container(container).getBlockBlobClient(name).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: "application/json" }, metadata: { bench: "shards" },
      });
    }
  }));
}

/** One cycle: N processes started together; the cycle ends when the last one exits. */
async function cycle(sites: LocalSites, work: string, proxies: CountingProxy[], count: number): Promise<CycleResult> {
  for (const p of proxies) p.take();
  const started = Date.now();
  const shards = await Promise.all(Array.from({ length: count }, (_, index) => runShard(sites, work, proxies[index], index, count)));
  return { wallSeconds: (Date.now() - started) / 1000, shards };
}

async function runShard(sites: LocalSites, work: string, proxy: CountingProxy, index: number, count: number): Promise<ShardRun> {
  const configPath = join(work, `shard-${index}-of-${count}.json`);
  writeFileSync(configPath, JSON.stringify({
    source: { blobEndpoint: `http://127.0.0.1:${proxy.port}/source/`, sasEnv: "DR_SOURCE_SAS" },
    target: { blobEndpoint: `http://127.0.0.1:${proxy.port}/target/`, sasEnv: "DR_TARGET_SAS" },
    containers: [...WHOLE, BIG], stagingDir: join(work, "staging"), stateDir: join(work, "state"), allowInsecureHttp: true,
    ...(count > 1 ? { shard: { count, index, split: [BIG] } } : {}),
  }, null, 2), { mode: 0o600 });
  const env = { ...process.env, DR_SOURCE_SAS: sites.source.sas("rl"), DR_TARGET_SAS: sites.target.sas("rwdlac") };
  const started = Date.now();
  const exitCode = await new Promise<number | null>((done) => {
    const child = spawn(pinnedNodeBinary(), [...RUNTIME_NODE_FLAGS, DR_SYNC_BUNDLE, "run", "--config", configPath, "--json", "--log-level", "warn"], { env, stdio: ["ignore", "ignore", "inherit"] });
    child.on("close", (code) => done(code));
  });
  const seconds = (Date.now() - started) / 1000;
  const c = proxy.take();
  return { index, seconds, exitCode, listRequests: c.list, requests: c.total };
}

/** A Markdown table: per N, the cycle's wall time and each shard's listing requests. */
export function renderShardTable(r: ShardBenchResult): string {
  const rows = r.byCount.map(({ count, firstCopy, unchanged }) => {
    const lists = (c: CycleResult) => c.shards.map((s) => s.listRequests).join(" / ");
    const slowest = (c: CycleResult) => Math.max(...c.shards.map((s) => s.seconds)).toFixed(1);
    return `| ${count} | ${firstCopy.wallSeconds.toFixed(1)} | ${slowest(firstCopy)} | ${unchanged.wallSeconds.toFixed(1)} | ${lists(unchanged)} | ` +
      `${unchanged.shards.reduce((s, x) => s + x.requests, 0)} |`;
  });
  return [`${r.blobs} blobs (4 whole containers of ${Math.floor(r.blobs / 16)}, one split container of ${r.blobs - 4 * Math.floor(r.blobs / 16)} across ${r.prefixes} prefixes), ` +
    `one Azurite, ${r.cores} cores`, "",
  "| shards (N) | first copy, s | slowest shard, s | unchanged cycle, s | list requests per shard (unchanged cycle) | requests, all shards (unchanged) |",
  "|---:|---:|---:|---:|---|---:|", ...rows].join("\n");
}
