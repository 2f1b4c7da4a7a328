/**
 * Component benchmark of the sync engine at millions of blobs: the real staging index (SQLite on disk), the
 * marcher and the pull decisions, fed by an in-process listing instead of HTTP. Each phase runs in a child
 * process of its own, so its peak RSS is its own:
 *   load   an empty index meets the listing: every blob is srcOnly, decided "copy" and its entry staged;
 *   noop   the same listing again: every blob matches, decided "skip", nothing written;
 *   seen   (opt-in, `--seen`) the pull's present shape with its seen set on disk instead of the marcher: every
 *          listed name but one in 100 marked seen, then the unseen ones queued as pending deletions.
 * The listing alone (making the RemoteBlob objects) is timed too, and the engine's own cost is the phase's time
 * minus that. Node.js flags it is started with go to each phase (`node --no-turbofan build/bench-engine.js …`).
 * Usage: `npm run bench:engine -- [--sizes 1000000,10000000] [--synchronous NORMAL|FULL] [--batch-rows 10000] [--seen] [--dir D]`.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { RemoteBlob, StagedEntry } from "../runtime/src/model/blob";
import { StagingIndex } from "../runtime/src/index/staging-index";
import { march } from "../runtime/src/sync/march";
import { decidePull } from "../runtime/src/sync/decide";

interface PhaseResult {
  readonly phase: "load" | "noop" | "list" | "seen";
  readonly blobs: number;
  readonly seconds: number;
  readonly maxRssMiB: number;
  readonly dbMiB: number;
}

const pad = (n: number, w: number) => String(n).padStart(w, "0");

/** Blobs in the service's order: 1,000 per folder, names of 40-odd characters like a real tree's. */
function* listing(count: number): Generator<RemoteBlob> {
  for (let i = 0; i < count; i++) {
    yield {
      name: `data/${pad(Math.floor(i / 1000), 5)}/object-${pad(i, 9)}.bin`, etag: `0x8DD${i.toString(16).toUpperCase()}`,
      size: 4096 + (i % 1000), lastModified: "2026-12-01T10:00:00.000Z", kind: "BlockBlob",
      props: { contentType: "application/octet-stream", contentMD5: `md5-${i}==` }, metadata: {},
    };
  }
}

function staged(b: RemoteBlob): StagedEntry {
  return { name: b.name, srcEtag: b.etag, size: b.size, lastModified: b.lastModified, kind: b.kind, props: b.props, metadata: b.metadata, dataFile: `${b.etag}.data`, stagedMd5: b.props.contentMD5 };
}

async function runPhase(phase: PhaseResult["phase"], blobs: number, file: string, synchronous: "NORMAL" | "FULL", batchRows: number): Promise<PhaseResult> {
  const started = process.hrtime.bigint();
  if (phase === "list") {
    let n = 0;
    for (const b of listing(blobs)) n += b.size > 0 ? 1 : 0;
    if (n !== blobs) throw new Error("listing miscounted");
  } else if (phase === "seen") {
    const idx = StagingIndex.open(file, { synchronous, batchRows });
    idx.beginRun();
    let i = 0;
    for (const b of listing(blobs)) if (i++ % 100 !== 0) idx.markSeen(b.name);
    for (const n of idx.unseenNames()) idx.addPendingDelete(n);
    idx.flush();
    if (idx.countPendingDeletes() !== Math.ceil(blobs / 100)) throw new Error(`phase seen: ${idx.countPendingDeletes()} pending deletions`);
    idx.close();
  } else {
    if (phase === "load") for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    const idx = StagingIndex.open(file, { synchronous, batchRows });
    let copies = 0;
    let skips = 0;
    const counts = await march(listing(blobs), idx.entries(), {
      srcOnly: (s) => {
        if (decidePull(s, undefined).action !== "copy") throw new Error(`${s.name}: expected a copy`);
        copies++;
        idx.putEntry(staged(s));
      },
      dstOnly: (d) => { throw new Error(`${d.name}: only in the index`); },
      match: (s, e) => {
        if (decidePull(s, e).action !== "skip") throw new Error(`${s.name}: expected a skip`);
        skips++;
      },
    });
    idx.close();
    const want = phase === "load" ? { copies: blobs, skips: 0 } : { copies: 0, skips: blobs };
    if (copies !== want.copies || skips !== want.skips || counts.dstOnly !== 0) throw new Error(`phase ${phase}: ${JSON.stringify({ copies, skips, counts })}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const dbMiB = existsSync(file) ? (statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0)) / 2 ** 20 : 0;
  return { phase, blobs, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, dbMiB };
}

const LABELS: Record<PhaseResult["phase"], string> = {
  list: "listing only", load: "first load", noop: "no-op cycle", seen: "seen set on disk (--seen)",
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const synchronous = arg("synchronous", "NORMAL") as "NORMAL" | "FULL";
  if (synchronous !== "NORMAL" && synchronous !== "FULL") throw new Error(`--synchronous must be NORMAL or FULL (got "${synchronous}")`);
  const batchRows = Number(arg("batch-rows", "10000"));
  if (!Number.isInteger(batchRows) || batchRows <= 0) throw new Error(`--batch-rows must be a positive whole number (got "${arg("batch-rows", "")}")`);
  const dir = resolve(arg("dir", "bench/work/engine"));
  const child = arg("phase", "");
  if (child) {
    const r = await runPhase(child as PhaseResult["phase"], Number(arg("blobs", "0")), join(dir, "index.db"), synchronous, batchRows);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const sizes = arg("sizes", "1000000,10000000").split(",").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sizes must be positive whole numbers separated by commas (got "${arg("sizes", "")}")`);
  mkdirSync(dir, { recursive: true });
  console.log(`engine component benchmark: node ${process.version}, synchronous=${synchronous}, batch of ${batchRows} rows, index in ${dir}`);
  console.log("| blobs | phase | time (s) | µs per blob | engine µs per blob (minus listing) | peak RSS (MiB) | index on disk (MiB) |");
  console.log("|---:|---|---:|---:|---:|---:|---:|");
  for (const blobs of sizes) {
    const results: Record<string, PhaseResult> = {};
    for (const phase of process.argv.includes("--seen") ? ["list", "load", "noop", "seen"] as const : ["list", "load", "noop"] as const) {
      const r = spawnSync(process.execPath, [...process.execArgv, __filename, "--phase", phase, "--blobs", String(blobs), "--dir", dir, "--synchronous", synchronous, "--batch-rows", String(batchRows)], { encoding: "utf8", maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`phase ${phase} at ${blobs} blobs failed (${r.status ?? r.signal}): ${r.stderr}`);
      const res = JSON.parse(r.stdout.trim().split("\n").pop()!) as PhaseResult;
      results[phase] = res;
      const us = (res.seconds * 1e6) / blobs;
      const engine = phase === "list" ? "" : (((res.seconds - results.list.seconds) * 1e6) / blobs).toFixed(2);
      console.log(`| ${blobs.toLocaleString("en-US")} | ${LABELS[phase]} | ${res.seconds.toFixed(1)} | ${us.toFixed(2)} | ${engine} | ${res.maxRssMiB.toFixed(0)} | ${phase === "list" ? "" : res.dbMiB.toFixed(0)} |`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
