import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { listBlobs } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { describeError, FatalError, isConditionFailed } from "../storage/errors";
import { downloadToFile } from "../transfer/blob-to-file";
import { uploadEntry } from "../transfer/file-to-blob";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { WorkPool } from "../transfer/pool";
import { decideAsOf, isLaterVersion, PitAction, writtenBy } from "../versions/point-in-time";
import { TargetVersions, VersionEntry } from "../versions/target-versions";
import { StagingIndex } from "../index/staging-index";
import { withScratchDir } from "../index/scratch-dir";
import { march } from "./march";
import { MiB, SyncContext } from "./context";
import { retainRemote } from "./retain-remote";

export interface AsOfOptions {
  readonly container: string;
  readonly asOf: Date;
  readonly to: "source" | "target";
  readonly prefix?: string;
  /** Plan only. */
  readonly dryRun: boolean;
}

/** What `restore --as-of` found and did, counted; each action and failure went to the sink as it came. */
export interface AsOfSummary {
  readonly container: string;
  readonly asOf: string;
  readonly to: "source" | "target";
  readonly counts: { readonly restore: number; readonly remove: number; readonly keep: number };
  readonly applied: boolean;
  readonly failedCount: number;
}

/**
 * Where `restore --as-of` sends what it finds: every action in name order as the walk decides it, then (applying)
 * each failure as it happens, then the counts. A restore of a container of millions writes its plan out instead of
 * holding it.
 */
export interface AsOfSink {
  action(a: PitAction): void;
  failed(name: string, error: string): void;
  close(summary: AsOfSummary): void;
}

/** The scratch index's queues: version blobs by name, each name's live version at the moment, the plan. */
const VERSIONS = "asof.versions";
const LIVE = "asof.live";
const PLAN = "asof.plan";

/**
 * `restore --container C --as-of T`: puts every blob of C (or of a prefix) back to its state at T, from the target's
 * versions container and what each side holds now: bytes, properties and metadata; blobs created after T are
 * removed, blobs deleted after T come back. Needs only the config and the SAS tokens (staging and state may be
 * empty: the DR site's own history is the point). What it replaces or removes is kept first: at the target in its
 * versions container, at the source in this machine's retention area. Every write is conditional on the version
 * the listing saw. The caller holds the lock and has checked the fence.
 *
 * Nothing per blob is held in memory: the version blobs, each name's live version and the plan go into a scratch
 * index on the staging disk (removed afterwards), the side's listing is marched against the live versions in name
 * order, and the plan is applied from the index.
 */
export async function restoreAsOf(ctx: SyncContext, versions: TargetVersions, opts: AsOfOptions, sink: AsOfSink): Promise<AsOfSummary> {
  const { container, asOf, to } = opts;
  const prefix = opts.prefix ?? "";
  const site = to === "source" ? ctx.src : ctx.dst;
  return withScratchDir(ctx.config.stagingDir, async (tmpDir) => {
    const scratch = StagingIndex.open(join(tmpDir, "as-of.db"));
    try {
      for await (const b of versions.versionBlobs(container)) scratch.enqueue(VERSIONS, b.name, b);
      await versions.eachEntry(container, prefix, (v) => scratch.queuedItem(VERSIONS, v) !== undefined, (e) => {
        if (!writtenBy(e, asOf)) return;
        const best = scratch.queuedItem<VersionEntry>(LIVE, e.name);
        if (!best || isLaterVersion(e, best)) scratch.enqueue(LIVE, e.name, e);
      });
      const counts = { restore: 0, remove: 0, keep: 0 };
      const decide = (name: string, current: RemoteBlob | undefined, live: VersionEntry | undefined) => {
        const a = decideAsOf(name, current, live, asOf);
        if (!a) return;
        counts[a.action]++;
        sink.action(a);
        if (a.action !== "keep") scratch.enqueue(PLAN, a.name, a);
      };
      await march(currentListing(ctx, site, container, prefix), scratch.queued<VersionEntry>(LIVE), {
        srcOnly: (cur) => decide(cur.name, cur, undefined),
        dstOnly: (live) => decide(live.name, undefined, live),
        match: (cur, live) => decide(cur.name, cur, live),
      });
      let failedCount = 0;
      const summary = (applied: boolean): AsOfSummary => ({ container, asOf: asOf.toISOString(), to, counts, applied, failedCount });
      if (opts.dryRun) {
        sink.close(summary(false));
        return summary(false);
      }

      if (to === "target") await ctx.dst.ensureContainer(container, ctx.signal);
      const pool = new WorkPool<PitAction>(ctx.config.transferConcurrency, async (a) => {
        try {
          if (to === "target") await applyAtTarget(ctx, versions, container, a);
          else await applyAtSource(ctx, versions, container, a, (v) => scratch.queuedItem<RemoteBlob>(VERSIONS, v), join(tmpDir, randomBytes(8).toString("hex")));
        } catch (err) {
          const error = isConditionFailed(err) ? `changed at ${site.label} during the restore; left as it is (run the restore again)` : describeError(err);
          failedCount++;
          sink.failed(a.name, error);
          ctx.events.warn("restore.failed", `restore of "${a.name}" in ${container} to ${site.label} failed: ${error}`, { container, blob: a.name });
        }
      });
      for (const a of scratch.queued<PitAction>(PLAN)) await pool.add(a);
      await pool.drain();
      sink.close(summary(true));
      return summary(true);
    } finally {
      scratch.close();
    }
  });
}

/** At the target, everything stays in the account: the versions container holds the bytes, Copy Blob moves them. */
async function applyAtTarget(ctx: SyncContext, versions: TargetVersions, container: string, a: PitAction): Promise<void> {
  if (a.action === "keep") return;
  const target = ctx.dst.blob(container, a.name);
  if (a.current) await versions.keep(container, a.current, a.action === "remove" ? "removed by a restore" : "replaced by a restore");
  if (a.action === "remove") {
    await target.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    return;
  }
  let conditions: { ifMatch?: string; ifNoneMatch?: string } = a.current ? { ifMatch: a.current.etag } : { ifNoneMatch: "*" };
  if (a.current && a.current.kind !== a.version.kind) {
    // The service does not turn one blob type into another.
    await target.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    conditions = { ifNoneMatch: "*" };
  }
  const poller = await target.beginCopyFromURL(ctx.dst.blobUrl(versions.versionsContainer, a.version.version), { conditions, abortSignal: ctx.signal, intervalInMs: 200 });
  const done = await poller.pollUntilDone();
  if (done.copyStatus && done.copyStatus !== "success") throw new Error(`copy from ${versions.versionsContainer} ended ${done.copyStatus}`);
}

/** At the source, the bytes come through this machine: download the kept version, upload it with its properties. */
async function applyAtSource(ctx: SyncContext, versions: TargetVersions, container: string, a: PitAction,
  versionBlob: (version: string) => RemoteBlob | undefined, tmp: string): Promise<void> {
  if (a.action === "keep") return;
  const source = ctx.src.blob(container, a.name);
  if (a.current) await retainRemote(ctx, ctx.src, ctx.srcKey, container, a.current, "replaced by a restore", `${tmp}.kept`);
  if (a.action === "remove") {
    await source.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    return;
  }
  const kept = versionBlob(a.version.version);
  if (!kept) throw new FatalError(`the kept version ${versions.versionsContainer}/${a.version.version} is gone`);
  const got = await downloadToFile(ctx.dst.blob(versions.versionsContainer, kept.name), kept, tmp, {
    singleShotMax: ctx.config.singleShotMaxMiB * MiB, rangeSize: ctx.config.blockSizeMiB * MiB, rangeConcurrency: ctx.config.blockConcurrency, signal: ctx.signal,
  }, kept.kind === "PageBlob" ? ctx.dst.pageBlob(versions.versionsContainer, kept.name) : undefined);
  const entry: StagedEntry = {
    name: a.name, srcEtag: kept.etag, size: kept.size, lastModified: kept.lastModified, kind: kept.kind, props: kept.props, metadata: kept.metadata,
    dataFile: "", stagedMd5: got.md5, ...(got.pageRanges ? { pageRanges: got.pageRanges } : {}),
  };
  let conditions: { ifMatch?: string; ifNoneMatch?: string } = a.current ? { ifMatch: a.current.etag } : { ifNoneMatch: "*" };
  if (a.current && a.current.kind !== kept.kind) {
    await source.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    conditions = { ifNoneMatch: "*" };
  }
  try {
    await uploadEntry(ctx.src, container, entry, tmp, {
      singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB, blockConcurrency: ctx.config.blockConcurrency,
      signal: ctx.signal, conditions, onWarning: (m) => ctx.events.warn("scratch.left", m, { container }),
    });
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** The side's blobs under the prefix, in listing order, without scratch blobs. */
async function* currentListing(ctx: SyncContext, site: SyncContext["src"], container: string, prefix: string): AsyncGenerator<RemoteBlob> {
  for await (const b of listBlobs(site.container(container), container, {
    side: site.label, sasEnv: site.site.sasEnv, missing: "empty", prefix: prefix || undefined, signal: ctx.signal,
  })) {
    if (!b.name.startsWith(SCRATCH_PREFIX)) yield b;
  }
}
