import { promises as fs } from "node:fs";
import { listBlobs, ListingStart, listOne } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { formatBytes } from "../report/progress";
import { StagingStore } from "../staging/staging-store";
import { dataFileName } from "../staging/object-path";
import { describeError, fatalOf, isNotFound } from "../storage/errors";
import { downloadToFile } from "../transfer/blob-to-file";
import { WorkPool } from "../transfer/pool";
import { HopStats, MiB, newHopStats, SyncContext } from "./context";
import { appendedSinceStaged, countRecreated } from "./append-growth";
import { decidePull } from "./decide";
import type { Executor } from "./executor";
import { march } from "./march";
import { refusalOf } from "./name-rules";
import { withItemRetry } from "./item-retry";
import { containerPart } from "../shard/part";
import type { RangeSink } from "../transfer/blocks-ahead";
import { acceptAdded, addedCursor, countStagedNew, isAdded, noteAdded, STAGED_NEW } from "./added-names";

export interface PullResult {
  readonly stats: HopStats;
  /** When the source listing began, by the service's clock: the recovery point this hop can vouch for. */
  readonly listingStart?: ListingStart;
  /** Plan mode: why the delete guard would stop this hop. */
  readonly guardStop?: string;
}

/** One blob for the pull's workers; `isNew` when staging held no version of its name. */
interface Staging {
  readonly blob: RemoteBlob;
  readonly isNew: boolean;
}

/** Overwrites and emptyings found by the walk, waiting on disk for the guards. */
const DEFERRED = "pull.deferred";
/** Append blobs that grew, waiting for their old end to be compared before the guards count them (append-growth.ts). */
const APPEND_CHECKS = "pull.append-checks";

/** What the pull tells of its progress, so that work at the target can start before it ends. */
export interface PullHooks {
  /** Each blob staged under a name staging did not hold. */
  readonly onNewStaged?: (name: string) => void;
  /** May take a new large block blob's ranges as they land. */
  readonly earlyBlocks?: (blob: RemoteBlob) => RangeSink | undefined;
  /** Each staged name the pull is about to replace or remove, once the guards that count it have passed. Returns
   *  false when it wants no more offers of this kind (its queue is full); never waits. */
  readonly onReplacing?: (name: string) => boolean;
}

/**
 * Source → staging for one container: the source listing marched against the staged entries (march.ts), each
 * name decided by `decidePull`, every change made by `exec` (the storage, or in plan mode a recorder). Transfers
 * start while the listing streams; deletions, and overwrites that would empty or replace a blob, wait on disk
 * until the listing is complete and the guards have agreed, and deletions are skipped altogether when any
 * transfer failed. `hooks` let work at the target start while the pull goes on (push-ahead.ts, versions-ahead.ts).
 */
export async function pullContainer(ctx: SyncContext, container: string, store: StagingStore, exec: Executor, hooks: PullHooks = {}): Promise<PullResult> {
  const { onNewStaged, earlyBlocks, onReplacing } = hooks;
  const stats = newHopStats();
  const rows = store.rows;
  rows.beginRun();
  rows.clearQueue(DEFERRED);
  rows.clearQueue(APPEND_CHECKS);
  // Names staged new since the guards last passed: out of what staging held, and out of what it would lose.
  const added = addedCursor(rows, STAGED_NEW);
  let addedDeletes = 0;
  const deleting = ctx.config.deleteDestination;
  let empties = 0;
  let overwrites = 0;
  let vanished = 0;
  let listingStart: ListingStart | undefined;
  let totalBytes = 0;
  const startedAt = Date.now();
  let fatal: unknown;
  let guardStop: string | undefined;
  let pending = 0;
  const progress = () => ctx.events.progress({ phase: "pull", container, doneItems: stats.copied + stats.failed.length,
    totalItems: stats.copied + stats.failed.length + pending, doneBytes: stats.bytes, totalBytes, startedAt });
  // Space is measured once, before any transfer; the warning fires as soon as the listing shows the pull cannot fit.
  const free = await exec.stagingFreeBytes();
  let spaceWarned = false;
  const queued = (blob: RemoteBlob) => {
    totalBytes += blob.size;
    pending++;
    if (!spaceWarned && totalBytes > free) {
      spaceWarned = true;
      ctx.events.warn("staging.space", `staging has ${formatBytes(free)} free under ${ctx.config.stagingDir}, and the pull of "${container}" needs at least ${formatBytes(totalBytes)}; ` +
        `it stops when the disk is full (nothing is deleted then). Free space or grow the staging disk`, { container, freeBytes: free, neededBytes: totalBytes });
    }
  };
  const scope = { side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, operation: `read blobs in "${container}"`, doing: `pulling "${container}"`, stagingDir: ctx.config.stagingDir,
    consequence: "nothing was deleted or replaced at the target" };

  const pool = new WorkPool<Staging>(ctx.config.transferConcurrency, async ({ blob, isNew }) => {
    try {
      if (fatal) return;
      // Noted before it is staged: a kill in between must not leave it counted as held.
      if (isNew) noteAdded(rows, STAGED_NEW, blob.name);
      // Guarded, if it counts, before it reached the pool; replaced in staging or, vanished, removed.
      else onReplacing?.(blob.name);
      const outcome = await exec.stage(blob, stats, progress, isNew ? earlyBlocks : undefined);
      if (outcome === "staged" && isNew) onNewStaged?.(blob.name);
      if (outcome === "vanished") {
        // Deleted at the source after the listing: the staged version is stale, and the guard counts it as a deletion.
        if (deleting && store.get(blob.name)) {
          rows.addPendingDelete(blob.name);
          if (isAdded(rows, STAGED_NEW, blob.name)) addedDeletes++;
          vanished++;
        }
      } else stats.copied++;
    } catch (err) {
      const stop = fatalOf(err, scope);
      if (stop) {
        fatal ??= stop;
        ctx.events.error("pull.fatal", stop.message, { container });
        return;
      }
      stats.failed.push({ name: blob.name, error: describeError(err) });
      ctx.events.warn("blob.failed", `pull of "${blob.name}" in ${container} failed: ${describeError(err)}`, { container, blob: blob.name, hop: "pull" });
    } finally {
      pending--;
      progress();
    }
  });

  const consider = (blob: RemoteBlob, staged: StagedEntry | undefined): void | Promise<void> => {
    if (fatal) throw fatal;
    stats.listed++;
    const refusal = refusalOf(blob.name, ctx.config.target.cloud);
    if (refusal) {
      stats.refused.push({ name: blob.name, error: refusal });
      ctx.events.warn("blob.refused", `"${blob.name}" in ${container} is not replicated: ${refusal}`, { container, blob: blob.name });
      return;
    }
    const decision = decidePull(blob, staged);
    if (decision.action !== "copy") {
      stats.skipped++;
      return;
    }
    exec.report("pull", { name: blob.name, action: "copy", reason: decision.reason, size: blob.size });
    const wasAdded = staged !== undefined && added?.get(blob.name) !== undefined;
    if (decision.checkAppended && !wasAdded) {
      // Counted, or not, once its old end is compared: after the walk, before the guards.
      rows.enqueue(APPEND_CHECKS, blob.name, blob);
      return;
    }
    if (decision.empties && !wasAdded) empties++;
    if (decision.overwrites && !wasAdded) overwrites++;
    if (decision.empties || decision.overwrites) {
      // Replacing staged content waits for the guards, which need the whole listing: a stopped pull leaves staging
      // as it was, so the last good copy stays both here and at the target.
      rows.enqueue(DEFERRED, blob.name, blob);
      return;
    }
    queued(blob);
    return pool.add({ blob, isNew: !staged });
  };

  const pendingNew = countStagedNew(rows);
  const stagedBefore = store.count() - pendingNew;
  if (pendingNew > 0) {
    ctx.events.warn("guard.pending", `${pendingNew} blob(s) of "${container}" staged as new since its guards last passed (a run stopped by a guard, killed or failed before them) ` +
      `are not counted by the guards until a run passes them: neither as held nor, if deleted or replaced at the source, as lost`, { container, pending: pendingNew });
  }
  // The container's one listing: a name not after the previous one stops the walk before anything is deleted.
  const listing = listBlobs(ctx.src.container(container), container, {
    side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, signal: ctx.signal, missing: "error", part: containerPart(ctx.shard, container),
    onStart: (s) => { listingStart = s; ctx.serviceClock.observe(s); },
  });
  try {
    await march(listing, store.entries(), {
      srcOnly: (blob) => consider(blob, undefined),
      match: (blob, staged) => consider(blob, staged),
      dstOnly: (staged) => {
        if (!deleting) return;
        exec.report("pull", { name: staged.name, action: "delete", reason: "not in source" });
        rows.addPendingDelete(staged.name);
        if (added?.get(staged.name)) addedDeletes++;
      },
    });
  } catch (err) {
    // A listing that breaks off is never a complete one: let the transfers in flight land, delete nothing.
    fatal ??= err;
  }

  if (!fatal) {
    try {
      // Each is deferred for the guards like any overwrite; only the re-created ones count as one.
      overwrites += await countRecreated(ctx.config.transferConcurrency, rows.queued<RemoteBlob>(APPEND_CHECKS), async (blob) => {
        const staged = store.get(blob.name);
        return !!staged && appendedSinceStaged(ctx, container, blob, staged, store.dataPath(staged));
      }, (blob) => rows.enqueue(DEFERRED, blob.name, blob));
    } catch (err) {
      fatal ??= err;
    }
  }
  const changes = () => ({ hop: "pull" as const, container, where: "staging", existing: stagedBefore,
    deletes: deleting ? rows.countPendingDeletes() - addedDeletes : 0, empties, overwrites });
  if (!fatal) {
    try {
      guardStop = exec.guard(changes());
    } catch (err) {
      await pool.drain();
      store.flush();
      throw err;
    }
    if (!guardStop) {
      // The deletions the guards have just let through, while the pull goes on (made once its transfers are done).
      if (onReplacing && deleting) {
        for (const name of rows.pendingDeletes()) if (!onReplacing(name)) break;
      }
      for (const blob of rows.queued<RemoteBlob>(DEFERRED)) {
        if (fatal) break;
        queued(blob);
        await pool.add({ blob, isNew: false });
      }
    }
  }
  await pool.drain();
  store.flush();
  if (fatal) throw fatal;
  if (guardStop) return { stats, listingStart, guardStop };
  // Blobs that vanished from the source during the transfers were queued since the first check: count them too.
  if (vanished > 0) {
    const stop = exec.guard(changes());
    if (stop) return { stats, listingStart, guardStop: stop };
  }
  acceptAdded(rows, STAGED_NEW);
  const deletes = rows.countPendingDeletes();

  if (deleting && deletes > 0) {
    if (stats.failed.length > 0) {
      stats.heldBack = deletes;
      ctx.events.warn("deletes.held", `${deletes} deletion(s) in staging held back for "${container}" because ${stats.failed.length} transfer(s) failed`, { container, hop: "pull" });
    } else {
      for (const name of rows.pendingDeletes()) {
        await exec.unstage(name, "deleted at source");
        stats.deleted++;
      }
    }
  }
  store.flush();
  return { stats, listingStart };
}

/**
 * Stages one source blob. "vanished": it was deleted at the source after the listing (a 404, or gone when listed
 * again after a 412), so nothing was staged and any staged version is stale.
 */
export async function fetchOne(ctx: SyncContext, container: string, store: StagingStore, listed: RemoteBlob, stats: HopStats, onProgress: () => void,
  early?: (blob: RemoteBlob) => RangeSink | undefined): Promise<"staged" | "vanished"> {
  let blob = listed;
  let outcome: "staged" | "vanished" = "staged";
  await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, async (attempt) => {
    // Only the first attempt's ranges go ahead: a later one may read another version (its blocks go with the upload).
    const sink = attempt === 1 && blob.kind === "BlockBlob" && blob.size > ctx.config.singleShotMaxMiB * MiB ? early?.(blob) : undefined;
    if (attempt > 1) {
      // The blob may have changed since it was listed (412): take its current version, as a listing shows it.
      const fresh = await listOne(ctx.src.container(container), container, blob.name, { side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, missing: "error", signal: ctx.signal });
      if (!fresh) {
        outcome = "vanished";
        return;
      }
      blob = fresh;
    }
    const tmp = store.tmpPath();
    let counted = 0;
    try {
      const got = await downloadToFile(ctx.src.blob(container, blob.name), blob, tmp, {
        singleShotMax: ctx.config.singleShotMaxMiB * MiB,
        rangeSize: ctx.config.blockSizeMiB * MiB,
        rangeConcurrency: ctx.config.blockConcurrency,
        signal: ctx.signal,
        onBytes: (n) => { counted += n; stats.bytes += n; onProgress(); }, onRange: sink,
      }, blob.kind === "PageBlob" ? ctx.src.pageBlob(container, blob.name) : undefined);
      await store.commit({ ...stagedFrom(blob), ...(got.pageRanges ? { pageRanges: got.pageRanges } : {}), stagedMd5: got.md5 }, tmp, got.rangeMd5s);
      if (got.staleStoredMd5) {
        stats.staleMd5++;
        ctx.events.warn("source.md5-stale", `"${blob.name}" in ${container}: its stored Content-MD5 ${blob.props.contentMD5} is not the MD5 of its bytes (${got.md5}; ` +
          "read twice, the same both times); replicated as served, with the stored value as it is", { container, blob: blob.name });
      }
    } catch (err) {
      sink?.abandon();
      stats.bytes -= counted;
      await fs.rm(tmp, { force: true });
      if (isNotFound(err)) {
        outcome = "vanished";
        return;
      }
      throw err;
    }
    ctx.events.debug("blob.pulled", `pulled "${blob.name}"`, { container, blob: blob.name, size: blob.size });
  });
  return outcome;
}

export function stagedFrom(blob: RemoteBlob): StagedEntry {
  return {
    name: blob.name, srcEtag: blob.etag, size: blob.size, lastModified: blob.lastModified, kind: blob.kind,
    props: blob.props, metadata: blob.metadata, dataFile: dataFileName(blob.name, blob.etag),
  };
}
