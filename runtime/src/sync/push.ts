import { listBlobs, listOne } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { StagedEntryWithRecord } from "../index/staging-index";
import { PushRecords } from "../state/push-records";
import { StagingStore } from "../staging/staging-store";
import { describeError, fatalOf, isConditionFailed, isLeaseConflict, isNotFound, leasedMessage } from "../storage/errors";
import { checkStagedCopy, StagedCopyDamagedError, uploadEntry, WriteConditions } from "../transfer/file-to-blob";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { WorkPool } from "../transfer/pool";
import { HopStats, MiB, newHopStats, SyncContext } from "./context";
import { decidePush } from "./decide";
import type { Executor } from "./executor";
import { withItemRetry } from "./item-retry";
import { march } from "./march";
import { retainRemote } from "./retain-remote";
import { containerPart, scratchPrefixFor } from "../shard/part";
import { adoptSameBytes } from "./adopt-same-bytes";
import { goneSinceListed } from "./gone";
import { appendedSincePushed, countRecreated } from "./append-growth";
import { acceptAdded, AddedName, addedCursor, countStagedNew, isAdded, noteWrittenAhead, pushedAhead, STAGED_NEW } from "./added-names";
import type { AheadResult } from "./push-ahead";
import { keepVersion } from "./versions-ahead";

export interface PushResult {
  readonly stats: HopStats;
  /** Plan mode: why the delete guard would stop this hop. */
  readonly guardStop?: string;
}

export interface Job {
  readonly entry: StagedEntry;
  readonly dst?: RemoteBlob;
}

/** Copies found by the walk, and destination blobs to delete, waiting on disk for the guards. */
const COPIES = "push.copies";
const DELETES = "push.deletes";
/** Copies that wait for a comparison of the destination's bytes before the guards count them. */
const COMPARES = "push.compares";
/** Append blobs that grew since pushed, waiting for their old end to be compared before the guards count them. */
const APPEND_CHECKS = "push.append-checks";

/** The destination container as its one listing streams it, scratch blobs set aside. */
export interface DestinationListing {
  /** Blobs in listing order, without scratch blobs. */
  readonly blobs: AsyncIterable<RemoteBlob> | Iterable<RemoteBlob>;
  /** Scratch blobs a killed run left behind, known once `blobs` has been read to its end. */
  readonly scratch: readonly string[];
  /** False when the listing found no container (known once its first page is read). */
  exists(): boolean;
}

/**
 * Lists the destination container, lazily: the push reads it after the pull, so it shows what was written at the
 * target meanwhile. Every write the push makes is conditional on what this listing saw, so nothing is
 * overwritten unseen.
 */
export function listDestination(ctx: SyncContext, container: string): DestinationListing {
  const scratch: string[] = [];
  let exists = true;
  const listing = listBlobs(ctx.dst.container(container), container, {
    side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, signal: ctx.signal, missing: "empty", onMissing: () => { exists = false; },
    onStart: (s) => ctx.serviceClock.observe(s), part: containerPart(ctx.shard, container),
  });
  const blobs = (async function* (): AsyncGenerator<RemoteBlob> {
    for await (const b of listing) {
      if (b.name.startsWith(SCRATCH_PREFIX)) scratch.push(b.name);
      else yield b;
    }
  })();
  return { blobs, scratch, exists: () => exists };
}

/** Adoptions found by the walk, recorded when the push acts. */
const ADOPTS = "push.adopts";

/** Destination names the walk found with no push record: blobs at the target nothing of ours wrote (push-ahead.ts). */
export const UNRECORDED = "push.unrecorded";

/** What the push's walk found, before anything is done: its decisions wait on disk (queues), its counts here. */
export interface PushWalk {
  readonly stats: HopStats;
  readonly destination: DestinationListing;
  /** Deletions were decided (deleteDestination on and a complete pull staged). */
  readonly deleting: boolean;
  /** Destination blobs written ahead of the push since its guards last passed (added-names.ts): listed, but not what
   *  the target held. */
  aheadListed: number;
  /** Of the deletions queued, those of blobs written ahead: no mass deletion of what the target held. */
  aheadDeletes: number;
  empties: number;
  overwrites: number;
  totalBytes: number;
  /** Blobs left as they are because they are leased at the destination: failures of their own, named after the
   *  deletions are made. A lease (an attached disk) can last for weeks, and no retry cures it: it must not hold back
   *  the container's other deletions all that time, as a failed transfer does. */
  readonly leased: { name: string; error: string }[];
}

export interface WalkOptions {
  /** A complete pull is staged: the push may delete. @default true */
  readonly stagingComplete?: boolean;
  /** The destination's listing. @default a new listing of the target (`listDestination`) */
  readonly destination?: DestinationListing;
  /** What was pushed ahead during the pull: found done by their records, counted as copied. */
  readonly ahead?: AheadResult;
  /** Records the names at the destination without a push record in the UNRECORDED queue. @default false */
  readonly noteUnrecorded?: boolean;
  /** Names the last pull listed but could not stage (its mark's `failed`): staging holds no current version of them,
   *  so the push neither writes nor deletes them at the destination. @default none */
  readonly leaveAlone?: ReadonlySet<string>;
}

/**
 * The push's walk: the staged entries marched against the destination's listing, each name decided by
 * `decidePush` with its push record. It changes nothing: copies, deletions, adoptions and byte comparisons go into
 * the index's queues for `actOnPush`, so a walk may run beside a pull and be thrown away if the pull moves data.
 */
export async function walkPush(ctx: SyncContext, container: string, store: StagingStore, records: PushRecords, exec: Executor,
  opts: WalkOptions = {}): Promise<PushWalk> {
  const stats = newHopStats();
  stats.bytes = opts.ahead?.bytes ?? 0;
  const rows = store.rows;
  // The names written ahead, read in name order beside the walk's own.
  const ahead = addedCursor(rows, pushedAhead(records.target));
  for (const q of [COPIES, DELETES, COMPARES, ADOPTS, UNRECORDED, APPEND_CHECKS]) rows.clearQueue(q);
  const deleting = ctx.config.deleteDestination && (opts.stagingComplete ?? true);
  const walk: PushWalk = {
    stats, deleting, destination: opts.destination ?? listDestination(ctx, container),
    aheadListed: 0, aheadDeletes: 0, empties: 0, overwrites: 0, totalBytes: opts.ahead?.bytes ?? 0, leased: [],
  };
  /** Whether `name` was written ahead: out of what the target held and of what it would lose; copied, by this run. */
  const aheadOf = (name: string): AddedName | undefined => {
    const a = ahead?.get(name);
    if (a) walk.aheadListed++;
    return a;
  };
  /** A destination blob someone holds a lease on cannot be written or deleted: a failure of its own, nothing queued
   *  (no copy of it kept, no version, no write tried). */
  const leased = (dst: RemoteBlob, what: "replaced" | "deleted"): boolean => {
    if (dst.leased) leftLeased(ctx, container, exec, walk, dst.name, what);
    return !!dst.leased;
  };
  const consider = (staged: StagedEntryWithRecord, dst: RemoteBlob | undefined, written?: AddedName): void => {
    const pushedAhead = written !== undefined && opts.ahead !== undefined && written.run === opts.ahead.run;
    const d = decidePush(staged, staged.record, dst);
    if (d.action === "skip") {
      if (pushedAhead) stats.copied++;
      else stats.skipped++;
      return;
    }
    // Only an entry that leads to work is copied without its record (a steady cycle copies nothing).
    const { record: _record, ...entry } = staged;
    if (d.action === "adopt") {
      exec.report("push", { name: entry.name, action: "adopt", reason: d.reason });
      rows.enqueue(ADOPTS, entry.name, { entry, dst } satisfies Job);
      stats.adopted++;
      return;
    }
    if (d.compareBytes) {
      // Counted only once the bytes are compared (after the walk): see adoptSameBytes. A leased blob that holds the
      // staged bytes is adopted (no write); one that does not is a lease failure then.
      rows.enqueue(COMPARES, entry.name, { entry, dst } satisfies Job);
      return;
    }
    if (dst && leased(dst, "replaced")) return;
    if (d.empties && !written) walk.empties++;
    // A grown append blob is counted, or not, once its old end is compared (actOnPush).
    if (d.overwrites && !written && d.checkAppended && dst) rows.enqueue(APPEND_CHECKS, entry.name, { entry, dst } satisfies Job);
    else if (d.overwrites && !written) walk.overwrites++;
    walk.totalBytes += entry.size;
    exec.report("push", { name: entry.name, action: "copy", reason: d.reason, size: entry.size });
    rows.enqueue(COPIES, entry.name, { entry, dst } satisfies Job);
  };
  // A name whose pull failed is not deleted as "not in staging", nor rolled back to an older staged version.
  const left = (name: string): boolean => {
    if (!opts.leaveAlone?.has(name)) return false;
    exec.report("push", { name, action: "skip", reason: "its pull failed: left as it is at the destination" });
    stats.skipped++;
    return true;
  };
  await march(store.entries(records.target), walk.destination.blobs, {
    srcOnly: (entry) => {
      if (!left(entry.name)) consider(entry, undefined);
    },
    match: (entry, dst) => {
      stats.listed++;
      const written = aheadOf(dst.name);
      if (opts.noteUnrecorded && !entry.record) rows.enqueue(UNRECORDED, dst.name, 1);
      if (!left(dst.name)) consider(entry, dst, written);
    },
    dstOnly: (dst) => {
      stats.listed++;
      const written = aheadOf(dst.name);
      if (opts.noteUnrecorded) rows.enqueue(UNRECORDED, dst.name, 1);
      if (!deleting) return;
      if (opts.leaveAlone?.has(dst.name)) {
        exec.report("push", { name: dst.name, action: "skip", reason: "not in staging because its pull failed: not deleted" });
        stats.heldBack++;
        return;
      }
      if (leased(dst, "deleted")) return;
      if (written) walk.aheadDeletes++;
      exec.report("push", { name: dst.name, action: "delete", reason: "not in staging (deleted at source)" });
      rows.enqueue(DELETES, dst.name, dst);
    },
  });
  return walk;
}

/**
 * Staging → target for one container: the push's walk (`walkPush`), then what it decided (`actOnPush`). The
 * target is listed every run, so a blob changed or deleted there behind our back is noticed by its ETag and
 * rewritten. Deletions need `stagingComplete`: a staging no complete pull has filled says nothing about what the
 * source lacks. Blobs `ahead` wrote during the pull are found done by their records and counted as copied.
 */
export async function pushContainer(ctx: SyncContext, container: string, store: StagingStore, records: PushRecords, exec: Executor,
  stagingComplete = true, ahead?: AheadResult): Promise<PushResult> {
  return actOnPush(ctx, container, store, records, exec, await walkPush(ctx, container, store, records, exec, { stagingComplete, ahead }));
}

/**
 * Does what a walk decided, every change made by `exec`: adoptions recorded, look-alike destinations compared by
 * their bytes, the guards applied to the counts, then the copies and, if every copy landed, the deletions.
 * Destination content we hold no copy of is kept (retention area, versions) before it is replaced or deleted
 * (the executor).
 */
export async function actOnPush(ctx: SyncContext, container: string, store: StagingStore, records: PushRecords, exec: Executor, walk: PushWalk): Promise<PushResult> {
  const { stats, destination } = walk;
  const rows = store.rows;
  for (const job of rows.queued<Job>(ADOPTS)) exec.adopt(records, job.entry, job.dst!);
  await adoptSameBytes(ctx, container, rows.queued<Job>(COMPARES), records, exec, stats, (job) => {
    if (job.dst?.leased) {
      leftLeased(ctx, container, exec, walk, job.entry.name, "replaced");
      return;
    }
    walk.overwrites++;
    walk.totalBytes += job.entry.size;
    exec.report("push", { name: job.entry.name, action: "copy", reason: "bytes differ at destination (same size, properties and metadata, no Content-MD5)", size: job.entry.size });
    rows.enqueue(COPIES, job.entry.name, job);
  });
  walk.overwrites += await countRecreated(ctx.config.transferConcurrency, rows.queued<Job>(APPEND_CHECKS),
    async ({ entry, dst }) => !!dst && appendedSincePushed(ctx, container, entry, dst, store.dataPath(entry)));
  if (!walk.deleting && ctx.config.deleteDestination) {
    ctx.events.warn("deletes.held", `no complete pull of "${container}" is staged yet; the push copies but deletes nothing at the target`, { container, hop: "push" });
  }
  // What the target held when the guards last passed, and what of it would go: blobs written ahead since are neither
  // (added-names.ts), or 30 new names would dilute the deletion of 20 originals below the limit.
  const deletes = rows.countQueued(DELETES);
  const existing = stats.listed - walk.aheadListed;
  const guardStop = exec.guard({ hop: "push", container, where: ctx.dst.label, existing, deletes: deletes - walk.aheadDeletes, empties: walk.empties, overwrites: walk.overwrites });
  if (guardStop) return { stats, guardStop };
  // Only what the pull has let in too: a `push` on its own after a stopped pull must not accept the names it writes,
  // and notes those it writes new as written ahead (a later run's push must not count them as held).
  const pullPending = countStagedNew(rows) > 0;
  if (!pullPending) acceptAdded(rows, pushedAhead(records.target));

  await exec.prepareDestination(container, destination.exists(), destination.scratch);
  const scope = { side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, stagingDir: ctx.config.stagingDir, consequence: "nothing was deleted" };
  const startedAt = Date.now();
  let done = 0;
  let fatal: unknown;
  const copies = rows.countQueued(COPIES);
  const progress = () => ctx.events.progress({ phase: "push", container, doneItems: done, totalItems: copies, doneBytes: stats.bytes, totalBytes: walk.totalBytes, startedAt });
  const pool = new WorkPool<Job>(ctx.config.transferConcurrency, async (job) => {
    try {
      if (fatal) return;
      if (pullPending && !job.dst && isAdded(rows, STAGED_NEW, job.entry.name)) {
        noteWrittenAhead(rows, records.target, job.entry.name);
        rows.flush();
      }
      await exec.upload(records, job, stats, progress);
      stats.copied++;
    } catch (err) {
      const stop = fatalOf(err, { ...scope, operation: `write blobs in "${container}"`, doing: `saving a target copy of "${job.entry.name}" to the retention area` });
      if (stop) {
        fatal ??= stop;
        return;
      }
      if (err instanceof StagedCopyDamagedError) await store.forget(job.entry.name);
      stats.failed.push({ name: job.entry.name, error: describeError(err) });
      ctx.events.warn("blob.failed", `push of "${job.entry.name}" to ${container} failed: ${describeError(err)}`, { container, blob: job.entry.name, hop: "push" });
    } finally {
      done++;
      progress();
    }
  });
  for (const job of rows.queued<Job>(COPIES)) {
    if (fatal) break;
    await pool.add(job);
  }
  await pool.drain();
  if (fatal) throw fatal;

  if (deletes > 0) {
    if (stats.failed.length > 0) {
      stats.heldBack += deletes;
      ctx.events.warn("deletes.held", `${deletes} deletion(s) at the target held back for "${container}" because ${stats.failed.length} transfer(s) failed`, { container, hop: "push" });
    } else {
      const delPool = new WorkPool<RemoteBlob>(ctx.config.transferConcurrency, async (dst) => {
        try {
          if (fatal) return;
          await exec.deleteAtDestination(records, dst, stats);
          stats.deleted++;
        } catch (err) {
          const stop = fatalOf(err, { ...scope, operation: `delete blobs in "${container}"`, doing: `saving a target copy of "${dst.name}" to the retention area`,
            consequence: "it was not deleted" });
          if (stop) {
            fatal ??= stop;
            return;
          }
          stats.failed.push({ name: dst.name, error: `delete: ${describeError(err)}` });
          ctx.events.warn("blob.failed", `delete of "${dst.name}" in ${container} failed: ${describeError(err)}`, { container, blob: dst.name, hop: "push" });
        }
      });
      for (const dst of rows.queued<RemoteBlob>(DELETES)) {
        if (fatal) break;
        await delPool.add(dst);
      }
      await delPool.drain();
      if (fatal) throw fatal;
    }
  }
  stats.failed.push(...walk.leased);
  records.prune();
  store.flush();
  return { stats };
}

/** Leaves a blob leased at the destination as it is: reported, warned, and a failure once the deletions are made. */
function leftLeased(ctx: SyncContext, container: string, exec: Executor, walk: PushWalk, name: string, what: "replaced" | "deleted"): void {
  const error = leasedMessage(ctx.dst.label);
  exec.report("push", { name, action: "skip", reason: `leased at the destination: not ${what}` });
  walk.leased.push({ name, error });
  ctx.events.warn("blob.leased", `"${name}" in ${container} is ${error}`, { container, blob: name, hop: "push" });
}

/**
 * Writes one staged blob over what the listing saw at the destination. The write is conditional on that version
 * (If-Match its ETag, or If-None-Match * where there was none): when someone wrote the blob since, the write
 * fails, the blob's current version is read, kept in the retention area, and the write is tried once more on it.
 * A destination blob of another type (a page blob replaced by a block blob at the source) is deleted first: the
 * service does not turn one type into another.
 */
export async function pushOne(ctx: SyncContext, container: string, staged: StagingStore, records: PushRecords, job: Job, stats: HopStats, progress: () => void): Promise<void> {
  const { entry } = job;
  let dst = job.dst;
  for (let round = 1; ; round++) {
    // A blob of another type there is deleted before the write: given up only for a staged copy known to be whole.
    if (dst && dst.kind !== entry.kind) await checkStagedCopy(entry, staged.dataPath(entry));
    if (dst && dst.etag !== records.get(entry.name)?.dstEtag) {
      if (await retainDestination(ctx, container, staged, dst)) stats.retainedFromDestination++;
    }
    let conditions: WriteConditions = dst ? { ifMatch: dst.etag } : { ifNoneMatch: "*" };
    try {
      if (dst && ctx.versions) {
        const kept = dst;
        await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, () => keepVersion(ctx, container, staged.rows, kept, "overwritten by a push").catch(async (err) => {
          // Changed (412) or deleted (a 404 for a blob that is gone) since listed: its new state is seen first. Any
          // other 404 (the versions container deleted meanwhile) fails the write: nothing is replaced unkept.
          if (isConditionFailed(err) || (await goneSinceListed(err, ctx.dst.blob(container, kept.name), ctx.signal))) throw new DestinationChanged(err);
          throw isLeaseConflict(err) ? new Error(leasedMessage(ctx.dst.label)) : err;
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
            rangeMd5s: () => staged.rangeMd5s(entry), singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB,
            blockConcurrency: ctx.config.blockConcurrency, signal: ctx.signal, conditions,
            onBytes: (n) => { counted += n; stats.bytes += n; progress(); },
            onWarning: (m) => ctx.events.warn("scratch.left", m, { container }), scratchPrefix: scratchPrefixFor(ctx.shard),
          });
          records.written(entry.name, { srcEtag: entry.srcEtag, dstEtag: etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
        } catch (err) {
          stats.bytes -= counted;
          // Not retried as it is: the destination changed, and its new version must be seen first.
          if (isConditionFailed(err)) throw new DestinationChanged(err);
          // Leased since it was listed: no retry or re-read cures that.
          if (isLeaseConflict(err)) throw new Error(`${leasedMessage(ctx.dst.label)} (${describeError(err)})`);
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
export function retainDestination(ctx: SyncContext, container: string, staged: StagingStore, dst: RemoteBlob): Promise<boolean> {
  return retainRemote(ctx, ctx.dst, ctx.dstKey, container, dst, staged.get(dst.name) ? "destination copy overwritten" : "destination copy deleted", staged.tmpPath());
}
