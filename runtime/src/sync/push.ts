import { listBlobs, listOne } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { PushRecords } from "../state/push-records";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isConditionFailed, isNotFound } from "../storage/errors";
import { StagedCopyDamagedError, uploadEntry, WriteConditions } from "../transfer/file-to-blob";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { WorkPool } from "../transfer/pool";
import { HopStats, ItemAction, MiB, newHopStats, SyncContext } from "./context";
import { decidePush } from "./decide";
import { applyGuards } from "./guards";
import { withItemRetry } from "./item-retry";
import { retainRemote } from "./retain-remote";
import { containerPart, scratchPrefixFor } from "../shard/part";
import { adoptSameBytes } from "./adopt-same-bytes";

/** The staged side of a push: the real staging store, or in plan mode the index as the pull would leave it. */
export interface StagedSource {
  readonly size: number;
  get(name: string): StagedEntry | undefined;
  values(): IterableIterator<StagedEntry>;
  dataPath(entry: StagedEntry): string;
  tmpPath(): string;
  /** Drops a damaged staged copy so the next pull fetches it again (and the staging is no longer complete). */
  forget?(name: string): Promise<void>;
}

export interface PushResult {
  readonly stats: HopStats;
  readonly actions: ItemAction[];
  /** Plan mode: why the delete guard would stop this hop. */
  readonly guardStop?: string;
}

export interface Job {
  readonly entry: StagedEntry;
  readonly dst?: RemoteBlob;
}

/**
 * Staging → target for one container. The target is listed every run, so a blob changed or deleted there behind
 * our back is noticed by its ETag and rewritten. Destination content we hold no copy of (changed behind our back,
 * or only ever at the target, as after a failover) is saved to the retention area before it is replaced or
 * deleted: a push never destroys data it cannot give back. Deletions need `stagingComplete`: a staging no complete
 * pull has filled says nothing about what the source lacks.
 */
/** The destination container as one listing shows it. */
export interface DestinationListing {
  readonly blobs: Map<string, RemoteBlob>;
  /** Scratch blobs a killed run left behind. */
  readonly scratch: string[];
  readonly exists: boolean;
}

/**
 * Lists the destination container. `run` starts this while the pull lists the source, and lists again after a
 * pull that moved anything: a listing as old as a long pull would hide what was written at the target meanwhile.
 * Every write the push makes is conditional on what this listing saw, so nothing is overwritten unseen.
 */
export async function listDestination(ctx: SyncContext, container: string, records?: PushRecords): Promise<DestinationListing> {
  const blobs = new Map<string, RemoteBlob>();
  const scratch: string[] = [];
  let exists = true;
  const listing = listBlobs(ctx.dst.container(container), container, {
    side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, signal: ctx.signal, missing: "empty", onMissing: () => { exists = false; },
    onStart: (s) => ctx.serviceClock.observe(s), part: containerPart(ctx.shard, container),
  });
  for await (const b of listing) {
    if (b.name.startsWith(SCRATCH_PREFIX)) scratch.push(b.name);
    else blobs.set(b.name, records?.get(b.name)?.dstEtag === b.etag ? asWeWroteIt(b) : b);
  }
  return { blobs, scratch, exists };
}

const NOTHING: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A destination blob whose ETag is the one our last push recorded. Everything the push decides about it needs
 * only its ETag, size and kind (it is skipped, rewritten from a newer staged version, or deleted with an If-Match
 * on that ETag, and never saved to the retention area, as staging holds its bytes). Dropping its properties and
 * metadata keeps a container's listing small in memory: on a steady cycle that is every blob.
 */
function asWeWroteIt(b: RemoteBlob): RemoteBlob {
  return { name: b.name, etag: b.etag, size: b.size, lastModified: b.lastModified, kind: b.kind, props: NOTHING, metadata: NOTHING };
}

export async function pushContainer(ctx: SyncContext, container: string, staged: StagedSource, records: PushRecords, dryRun = false,
  stagingComplete = true, listed?: Promise<DestinationListing>): Promise<PushResult> {
  const stats = newHopStats();
  const actions: ItemAction[] = [];
  const dstClient = ctx.dst.container(container);
  const side = ctx.dst.label;

  const { blobs: dstBlobs, scratch, exists } = await (listed ?? listDestination(ctx, container, records));
  if (!dryRun) {
    // Scratch blobs of a killed run: never data of anyone's (the real name only ever gets a finished copy).
    for (const name of scratch) await ctx.dst.blob(container, name).deleteIfExists({ abortSignal: ctx.signal }).catch(() => undefined);
  }
  if (!exists && !dryRun) {
    try {
      await dstClient.create({ abortSignal: ctx.signal });
      ctx.events.info("container.created", `created container "${container}" at ${ctx.dst.label}`, { container });
    } catch (err) {
      if (isAuthFailure(err)) throw new FatalError(`${explainAuthFailure(side, ctx.config.target.sasEnv, `create container "${container}"`, err)}; nothing was written`);
      if ((err as { statusCode?: number }).statusCode !== 409) throw new FatalError(`${side}: could not create container "${container}" (${describeError(err)})`);
    }
  }
  stats.listed = dstBlobs.size;

  const jobs: Job[] = [];
  const toCompare: Job[] = [];
  let empties = 0;
  let overwrites = 0;
  for (const entry of staged.values()) {
    const dst = dstBlobs.get(entry.name);
    const d = decidePush(entry, records.get(entry.name), dst);
    if (d.action === "skip") {
      stats.skipped++;
      continue;
    }
    if (d.action === "adopt") {
      actions.push({ name: entry.name, action: "adopt", reason: d.reason });
      if (!dryRun) records.set(entry.name, { srcEtag: entry.srcEtag, dstEtag: dst!.etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
      stats.adopted++;
      continue;
    }
    if (d.compareBytes) {
      toCompare.push({ entry, dst });
      continue;
    }
    if (d.empties) empties++;
    if (d.overwrites) overwrites++;
    actions.push({ name: entry.name, action: "copy", reason: d.reason, size: entry.size });
    jobs.push({ entry, dst });
  }
  for (const job of await adoptSameBytes(ctx, container, toCompare, records, stats, actions, dryRun)) {
    overwrites++;
    actions.push({ name: job.entry.name, action: "copy", reason: "bytes differ at destination (same size, properties and metadata, no Content-MD5)", size: job.entry.size });
    jobs.push(job);
  }
  // Only a staging that a complete pull produced can say what the source no longer has.
  const deletes = ctx.config.deleteDestination && stagingComplete ? [...dstBlobs.values()].filter((b) => !staged.get(b.name)) : [];
  if (!stagingComplete && ctx.config.deleteDestination) {
    ctx.events.warn("deletes.held", `no complete pull of "${container}" is staged yet; the push copies but deletes nothing at the target`, { container, hop: "push" });
  }

  const guardStop = applyGuards(ctx, { hop: "push", container, where: ctx.dst.label, existing: dstBlobs.size, deletes: deletes.length, empties, overwrites }, dryRun);
  for (const d of deletes) actions.push({ name: d.name, action: "delete", reason: "not in staging (deleted at source)" });
  if (dryRun) {
    stats.copied = jobs.length;
    stats.deleted = deletes.length;
    stats.bytes = jobs.reduce((s, j) => s + j.entry.size, 0);
    return { stats, actions, guardStop };
  }

  const totalBytes = jobs.reduce((s, j) => s + j.entry.size, 0);
  const startedAt = Date.now();
  let done = 0;
  let fatal: unknown;
  const progress = () => ctx.events.progress({ phase: "push", container, doneItems: done, totalItems: jobs.length, doneBytes: stats.bytes, totalBytes, startedAt });
  const pool = new WorkPool<Job>(ctx.config.transferConcurrency, async (job) => {
    try {
      if (fatal) return;
      await pushOne(ctx, container, staged, records, job, stats, progress);
      stats.copied++;
      ctx.events.debug("blob.pushed", `pushed "${job.entry.name}"`, { container, blob: job.entry.name, size: job.entry.size });
    } catch (err) {
      if (isAuthFailure(err)) {
        fatal ??= new FatalError(`${explainAuthFailure(side, ctx.config.target.sasEnv, `write blobs in "${container}"`, err)}; nothing was deleted`);
        return;
      }
      if (isDiskFull(err)) {
        fatal ??= new FatalError(`staging disk full while saving a target copy of "${job.entry.name}" to the retention area; nothing was deleted. Free space under ${ctx.config.stagingDir} and run again`);
        return;
      }
      if (err instanceof StagedCopyDamagedError) await staged.forget?.(job.entry.name);
      stats.failed.push({ name: job.entry.name, error: describeError(err) });
      ctx.events.warn("blob.failed", `push of "${job.entry.name}" to ${container} failed: ${describeError(err)}`, { container, blob: job.entry.name, hop: "push" });
    } finally {
      done++;
      progress();
    }
  });
  for (const job of jobs) await pool.add(job);
  await pool.drain();
  if (fatal) throw fatal;

  if (deletes.length > 0) {
    if (stats.failed.length > 0) {
      stats.heldBack = deletes.length;
      ctx.events.warn("deletes.held", `${deletes.length} deletion(s) at the target held back for "${container}" because ${stats.failed.length} transfer(s) failed`, { container, hop: "push" });
    } else {
      const delPool = new WorkPool<RemoteBlob>(ctx.config.transferConcurrency, async (dst) => {
        try {
          if (fatal) return;
          if (dst.etag !== records.get(dst.name)?.dstEtag && (await retainDestination(ctx, container, staged, dst))) stats.retainedFromDestination++;
          if (ctx.versions) {
            await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, () => ctx.versions!.keep(container, dst, "deleted by a push"));
            stats.versionsKept++;
          }
          await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, () =>
            ctx.dst.blob(container, dst.name).delete({ conditions: { ifMatch: dst.etag }, abortSignal: ctx.signal }).catch((err) => {
              if (!isNotFound(err)) throw err;
            }));
          records.delete(dst.name);
          stats.deleted++;
        } catch (err) {
          if (isAuthFailure(err)) {
            fatal ??= new FatalError(`${explainAuthFailure(side, ctx.config.target.sasEnv, `delete blobs in "${container}"`, err)}`);
            return;
          }
          if (isDiskFull(err)) {
            fatal ??= new FatalError(`staging disk full while saving a target copy of "${dst.name}" to the retention area; it was not deleted. Free space under ${ctx.config.stagingDir} and run again`);
            return;
          }
          stats.failed.push({ name: dst.name, error: `delete: ${describeError(err)}` });
          ctx.events.warn("blob.failed", `delete of "${dst.name}" in ${container} failed: ${describeError(err)}`, { container, blob: dst.name, hop: "push" });
        }
      });
      for (const d of deletes) await delPool.add(d);
      await delPool.drain();
      if (fatal) throw fatal;
    }
  }
  return { stats, actions };
}

/**
 * Writes one staged blob over what the listing saw at the destination. The write is conditional on that version
 * (If-Match its ETag, or If-None-Match * where there was none): when someone wrote the blob since, the write
 * fails, the blob's current version is read, kept in the retention area, and the write is tried once more on it.
 * A destination blob of another type (a page blob replaced by a block blob at the source) is deleted first: the
 * service does not turn one type into another.
 */
export async function pushOne(ctx: SyncContext, container: string, staged: StagedSource, records: PushRecords, job: Job, stats: HopStats, progress: () => void): Promise<void> {
  const { entry } = job;
  let dst = job.dst;
  for (let round = 1; ; round++) {
    if (dst && dst.etag !== records.get(entry.name)?.dstEtag) {
      if (await retainDestination(ctx, container, staged, dst)) stats.retainedFromDestination++;
    }
    let conditions: WriteConditions = dst ? { ifMatch: dst.etag } : { ifNoneMatch: "*" };
    try {
      if (dst && ctx.versions) {
        const kept = dst;
        await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, () => ctx.versions!.keep(container, kept, "overwritten by a push").catch((err) => {
          throw isConditionFailed(err) ? new DestinationChanged(err) : err;
        }));
        stats.versionsKept++;
      }
      if (dst && dst.kind !== entry.kind) {
        await ctx.dst.blob(container, entry.name).delete({ conditions: { ifMatch: dst.etag }, abortSignal: ctx.signal }).catch((err) => {
          if (!isNotFound(err)) throw err;
        });
        conditions = { ifNoneMatch: "*" };
      }
      await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, async () => {
        let counted = 0;
        try {
          const etag = await uploadEntry(ctx.dst, container, entry, staged.dataPath(entry), {
            singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB,
            blockConcurrency: ctx.config.blockConcurrency, signal: ctx.signal, conditions,
            onBytes: (n) => { counted += n; stats.bytes += n; progress(); },
            onWarning: (m) => ctx.events.warn("scratch.left", m, { container }), scratchPrefix: scratchPrefixFor(ctx.shard),
          });
          records.set(entry.name, { srcEtag: entry.srcEtag, dstEtag: etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
        } catch (err) {
          stats.bytes -= counted;
          // Not retried as it is: the destination changed, and its new version must be seen first.
          if (isConditionFailed(err)) throw new DestinationChanged(err);
          throw err;
        }
      });
      return;
    } catch (err) {
      if (!(err instanceof DestinationChanged) || round === 2) throw err instanceof DestinationChanged ? new Error(`changed at ${ctx.dst.label} twice while being replaced; left as it is (${describeError(err.cause)})`) : err;
      dst = await listOne(ctx.dst.container(container), container, entry.name, { side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, missing: "empty", signal: ctx.signal });
      ctx.events.info("destination.changed", `"${entry.name}" in ${container} was written at ${ctx.dst.label} after it was listed; its new version is kept before it is replaced`, { container, blob: entry.name });
    }
  }
}

/** A conditional write found the destination blob changed since it was listed. */
class DestinationChanged extends Error {
  constructor(readonly cause: unknown) {
    super("the destination blob changed since it was listed");
    this.name = "DestinationChanged";
  }
}

/** Saves a destination blob we hold no copy of into the retention area. Returns false when it vanished first. */
function retainDestination(ctx: SyncContext, container: string, staged: StagedSource, dst: RemoteBlob): Promise<boolean> {
  return retainRemote(ctx, ctx.dst, ctx.dstKey, container, dst, staged.get(dst.name) ? "destination copy overwritten" : "destination copy deleted", staged.tmpPath());
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}
