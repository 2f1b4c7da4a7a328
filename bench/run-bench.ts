import { cpSync, mkdirSync, rmSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";
import { compareContainers, Fidelity, readFacts } from "./fidelity";
import { BenchOptions } from "./options";
import { drSync } from "./peers/dr-sync";
import { PeerFactory, ToolName } from "./peers/peer";
import { rclone } from "./peers/rclone";
import { recipe } from "./peers/recipe-azcopy";
import { processCpuSeconds } from "./proc-cpu";
import { AccessLogCounter, RequestCounts } from "./request-counter";
import { deleteBlobs, uploadBlobs } from "./seed-data";
import { BlobSpec, ChangeSet, changeSet, generateBlobs, Shape } from "./workload";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";

export const PEERS: Record<ToolName, PeerFactory> = { recipe, rclone, "dr-sync": drSync };

/** The small blobs run once per name layout (`Shape`), then the large blobs, then (opt-in) the scale run. */
export type WorkloadName = Shape | "large" | "scale";
export const WORKLOAD_ORDER: readonly WorkloadName[] = ["nested", "folders", "flat", "large", "scale"];
export type PhaseName = "full" | "noop" | "changed";

/** One cycle of one tool, in one repetition. */
export interface PhaseRun {
  readonly workload: WorkloadName;
  readonly phase: PhaseName;
  readonly tool: ToolName;
  readonly rep: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly wallMs: number | null;
  readonly maxRssKiB: number | null;
  readonly cpuSeconds: number | null;
  /** CPU seconds Azurite spent during the cycle (both sites are one process); null without /proc. */
  readonly serviceCpuSeconds?: number | null;
  readonly requests: RequestCounts | null;
  readonly copied: number | null;
  readonly deleted: number | null;
  readonly fidelity?: Fidelity;
}

export interface WorkloadInfo {
  readonly name: WorkloadName;
  readonly blobs: number;
  readonly blobBytes: number;
  readonly phases: readonly PhaseName[];
  readonly reps: number;
  /** Whether the fidelity check compared bytes (sha256) or listings only. */
  readonly fidelityBytes: boolean;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly memoryGiB: number; readonly node: string; readonly kernel: string };
  readonly versions: Partial<Record<ToolName, string>>;
  readonly skipped: Partial<Record<ToolName, string>>;
  readonly workloads: readonly WorkloadInfo[];
  readonly changePercent: number;
  /** The Node.js flags dr-sync ran with (none: the contract's `node dr-sync.js run --config F`). */
  readonly drSyncNodeFlags: readonly string[];
  /** Azurite processes: one per site, or one for both (results before 2026-12-01 have no field: one). */
  readonly sites?: BenchOptions["sites"];
  readonly runs: readonly PhaseRun[];
}

interface Workload extends WorkloadInfo {
  readonly container: string;
  readonly specs: readonly BlobSpec[];
  readonly change?: ChangeSet;
  /** Seed a fresh in-memory Azurite for each tool instead of copying a seeded folder. */
  readonly inMemory?: boolean;
}

export interface BenchHooks {
  readonly log?: (line: string) => void;
}

/** Which workloads the options ask for, with their generated data. */
export function planWorkloads(opts: BenchOptions): Workload[] {
  const out: Workload[] = [];
  for (const shape of opts.small.count > 0 ? opts.shapes : []) {
    const small = generateBlobs(opts.small.count, opts.small.sizeBytes, shape, 0, shape);
    out.push({ name: shape, container: `bench-${shape}`, specs: small, blobs: small.length, blobBytes: opts.small.sizeBytes,
      phases: ["full", "noop", "changed"], reps: opts.reps, fidelityBytes: true, change: changeSet(small, opts.changePercent, shape, shape) });
  }
  if (opts.large.count > 0) {
    const large = generateBlobs(opts.large.count, opts.large.sizeBytes, "large");
    out.push({ name: "large", container: "bench-large", specs: large, blobs: large.length, blobBytes: opts.large.sizeBytes,
      phases: ["full", "noop"], reps: opts.reps, fidelityBytes: true });
  }
  if (opts.scale) {
    const scale = generateBlobs(opts.scale.count, opts.scale.sizeBytes, "scale");
    // One repetition: the scale run is about listing time and memory, and seeding it dominates the bench's time.
    // In memory: Azurite's on-disk metadata store rewrites itself as it grows, so seeding 100,000 blobs into a
    // folder slows to a crawl (over 20 minutes here), and it would slow every tool's run the same way.
    out.push({ name: "scale", container: "bench-scale", specs: scale, blobs: scale.length, blobBytes: opts.scale.sizeBytes,
      phases: ["full", "noop"], reps: 1, fidelityBytes: false, inMemory: true });
  }
  return out;
}

/**
 * Runs every workload: seeds it once into an Azurite data folder, then for each repetition and tool starts a
 * fresh Azurite on a copy of that folder, so every tool starts from byte-identical data and nobody's leftovers.
 * An in-memory workload (scale) is seeded afresh for each tool instead.
 * The tools take turns, starting with a different one each repetition.
 */
export async function runBench(opts: BenchOptions, tools: readonly ToolName[], hooks: BenchHooks = {}): Promise<Omit<BenchResult, "versions" | "skipped">> {
  const log = hooks.log ?? (() => undefined);
  const drSyncNodeFlags = opts.nodeFlags === "unit" ? RUNTIME_NODE_FLAGS : [];
  const startedAt = new Date().toISOString();
  const root = resolve(opts.workDir, `run-${process.pid}`);
  const runs: PhaseRun[] = [];
  const workloads = planWorkloads(opts);
  mkdirSync(root, { recursive: true });
  try {
    for (const w of workloads) {
      const template = join(root, `template-${w.name}`);
      const t0 = Date.now();
      if (!w.inMemory) {
        await seedTemplate(w, template, opts.sites);
        log(`${w.name}: seeded ${w.blobs} blobs in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      }
      for (let rep = 1; rep <= w.reps; rep++) {
        const order = tools.map((_, i) => tools[(i + rep - 1) % tools.length]);
        for (const tool of order) {
          const got = await runTool(w, tool, rep, template, join(root, `${w.name}-${rep}-${tool}`), drSyncNodeFlags, opts.sites, log);
          runs.push(...got);
        }
      }
      rmSync(template, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() },
    workloads: workloads.map(({ name, blobs, blobBytes, phases, reps, fidelityBytes }) => ({ name, blobs, blobBytes, phases, reps, fidelityBytes })),
    changePercent: opts.changePercent,
    drSyncNodeFlags,
    sites: opts.sites,
    runs,
  };
}

/** Creates the source container with the workload's blobs and an empty target container, then stops Azurite. */
async function seedTemplate(w: Workload, dataDir: string, layout: BenchOptions["sites"]): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const sites = await startLocalSites({ dataDir, separate: layout === "two" });
  try {
    await seedSites(w, sites);
  } finally {
    // Stopping flushes Azurite's metadata database; the data folder stays, as it is not Azurite's own.
    await sites.stop();
  }
}

/** The source container with the workload's blobs, and an empty target container. */
async function seedSites(w: Workload, sites: LocalSites): Promise<void> {
  const src = sites.source.container(w.container);
  await src.create();
  await sites.target.container(w.container).create();
  await uploadBlobs(src, w.specs, 32);
}

async function runTool(w: Workload, tool: ToolName, rep: number, template: string, dir: string, drSyncNodeFlags: readonly string[],
  layout: BenchOptions["sites"], log: (l: string) => void): Promise<PhaseRun[]> {
  const dataDir = join(dir, "azurite");
  if (!w.inMemory) cpSync(template, dataDir, { recursive: true });
  const separate = layout === "two";
  const counter = new AccessLogCounter();
  const sites = await startLocalSites(w.inMemory ? { inMemory: true, separate, accessLog: counter.line } : { dataDir, separate, accessLog: counter.line });
  const ports = separate ? [sites.port, sites.targetPort] : [sites.port];
  if (w.inMemory) {
    const t0 = Date.now();
    await seedSites(w, sites);
    log(`${w.name}: seeded ${w.blobs} blobs in memory for ${tool} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
  const out: PhaseRun[] = [];
  try {
    const peer = await PEERS[tool].create({
      srcPort: sites.port, dstPort: sites.targetPort, container: w.container, workDir: join(dir, "tool"),
      srcSas: sites.source.sas("rl"), dstSas: sites.target.sas("rwdlac"), srcAccount: sites.source.account, dstAccount: sites.target.account,
      drSyncNodeFlags,
    });
    const src = sites.source.container(w.container);
    const dst = sites.target.container(w.container);
    for (const phase of w.phases) {
      if (phase === "changed" && w.change) {
        await uploadBlobs(src, [...w.change.changed, ...w.change.added]);
        await deleteBlobs(src, w.change.deleted);
      }
      await counter.take(ports);
      const serviceCpu0 = servicesCpuSeconds(sites.pids);
      const r = await peer.cycle();
      const serviceCpu1 = servicesCpuSeconds(sites.pids);
      const serviceCpuSeconds = serviceCpu0 == null || serviceCpu1 == null ? null : serviceCpu1 - serviceCpu0;
      const requests = await counter.take(ports);
      let fidelity: Fidelity | undefined;
      if (r.ok && phase !== "noop") {
        const [s, d] = await Promise.all([readFacts(src, { bytes: w.fidelityBytes }), readFacts(dst, { bytes: w.fidelityBytes })]);
        fidelity = compareContainers(s, d);
      }
      out.push({ workload: w.name, phase, tool, rep, ok: r.ok, error: r.error, wallMs: r.wallMs, maxRssKiB: r.maxRssKiB, cpuSeconds: r.cpuSeconds,
        serviceCpuSeconds, requests, copied: r.copied, deleted: r.deleted, fidelity });
      log(`${w.name} rep ${rep} ${tool.padEnd(7)} ${phase.padEnd(7)} ${r.ok ? "ok  " : "FAIL"} ${(r.wallMs / 1000).toFixed(2).padStart(7)}s ` +
        `rss ${r.maxRssKiB == null ? "?" : Math.round(r.maxRssKiB / 1024)} MiB, cpu ${r.cpuSeconds?.toFixed(1) ?? "?"} s, Azurite cpu ${serviceCpuSeconds?.toFixed(1) ?? "?"} s, ${requests.total} requests, copied ${r.copied ?? "?"}, deleted ${r.deleted ?? "?"}` +
        (fidelity ? `, identical ${fidelity.identical}` : "") + (r.error ? `\n    ${r.error}` : ""));
      if (!r.ok) break;
    }
  } finally {
    await sites.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** CPU seconds of every Azurite process so far (both sites'), or null when one cannot be read. */
function servicesCpuSeconds(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s == null) return null;
    sum += s;
  }
  return sum;
}
