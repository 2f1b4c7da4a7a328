import { promises as fs } from "node:fs";
import { listBlobs, ListingStart, listOne } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { formatBytes } from "../report/progress";
import { StagingStore } from "../staging/staging-store";
import { dataFileName } from "../staging/object-path";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isNotFound, statusOf } from "../storage/errors";
import { downloadToFile } from "../transfer/blob-to-file";
import { WorkPool } from "../transfer/pool";
import { HopStats, ItemAction, MiB, newHopStats, SyncContext } from "./context";
import { decidePull } from "./decide";
import { applyGuards } from "./guards";
import { refusalOf } from "./name-rules";
import { withItemRetry } from "./item-retry";
import { containerPart } from "../shard/part";

export interface PullResult {
  readonly stats: HopStats;
  /** When the source listing began, by the service's clock: the recovery point this hop can vouch for. */
  readonly listingStart?: ListingStart;
  /** In plan mode, what would happen; otherwise what happened to blobs that were not skipped. */
  readonly actions: ItemAction[];
  /** Plan mode: the staging index as it would be after this hop. */
  readonly planned?: Map<string, StagedEntry>;
  /** Plan mode: why the delete guard would stop this hop. */
  readonly guardStop?: string;
}

/**
 * Source → staging for one container. Transfers start while the listing streams; deletions, and overwrites that
 * would empty a blob, wait until the listing is complete and the delete guard has agreed, and are skipped
 * altogether when any transfer failed.
 */
export async function pullContainer(ctx: SyncContext, container: string, store: StagingStore, dryRun = false): Promise<PullResult> {
  const stats = newHopStats();
  const actions: ItemAction[] = [];
  const seen = new Set<string>();
  const deferred: RemoteBlob[] = [];
  let empties = 0;
  let overwrites = 0;
  const planned = dryRun ? new Map<string, StagedEntry>([...store.values()].map((e) => [e.name, e])) : undefined;
  let listingStart: ListingStart | undefined;
  let totalBytes = 0;
  const startedAt = Date.now();
  let fatal: unknown;
  let guardStop: string | undefined;
  const progress = () => ctx.events.progress({ phase: "pull", container, doneItems: stats.copied + stats.failed.length,
    totalItems: stats.copied + stats.failed.length + pending, doneBytes: stats.bytes, totalBytes, startedAt });
  let pending = 0;
  // Space is measured once, before any transfer; the warning fires as soon as the listing shows the pull cannot fit.
  const free = dryRun ? Infinity : await freeBytes(ctx.config.stagingDir);
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

  // Blobs deleted at the source while we fetched them: their staged versions go, through the delete guard.
  const vanished: string[] = [];
  const pool = new WorkPool<RemoteBlob>(ctx.config.transferConcurrency, async (blob) => {
    try {
      if (fatal) return;
      if ((await fetchOne(ctx, container, store, blob, stats, () => progress())) === "vanished") {
        if (store.get(blob.name)) vanished.push(blob.name);
      } else stats.copied++;
    } catch (err) {
      if (isFatalLocal(err)) {
        fatal ??= new FatalError(`staging disk: ${describeError(err)} while pulling "${container}"; the run stopped, nothing was deleted, the target was not touched. Free space under ${ctx.config.stagingDir} and run again`);
        ctx.events.error("pull.fatal", String((fatal as Error).message), { container });
        return;
      }
      if (isAuthFailure(err)) {
        fatal ??= new FatalError(`${explainAuthFailure(ctx.src.label, ctx.config.source.sasEnv, `read blobs in "${container}"`, err)}; nothing was deleted`);
        return;
      }
      stats.failed.push({ name: blob.name, error: describeError(err) });
      ctx.events.warn("blob.failed", `pull of "${blob.name}" in ${container} failed: ${describeError(err)}`, { container, blob: blob.name, hop: "pull" });
    } finally {
      pending--;
      progress();
    }
  });

  const stagedBefore = store.size;
  const srcClient = ctx.src.container(container);
  const listing = listBlobs(srcClient, container, {
    side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, signal: ctx.signal, missing: "error", part: containerPart(ctx.shard, container),
    onStart: (s) => { listingStart = s; ctx.serviceClock.observe(s); },
  });
  try {
    for await (const blob of listing) {
      if (fatal) break;
      stats.listed++;
      seen.add(blob.name);
      const refusal = refusalOf(blob.name, ctx.config.target.cloud);
      if (refusal) {
        stats.refused.push({ name: blob.name, error: refusal });
        ctx.events.warn("blob.refused", `"${blob.name}" in ${container} is not replicated: ${refusal}`, { container, blob: blob.name });
        continue;
      }
      const decision = decidePull(blob, store.get(blob.name));
      if (decision.action !== "copy") {
        stats.skipped++;
        continue;
      }
      actions.push({ name: blob.name, action: "copy", reason: decision.reason, size: blob.size });
      if (decision.empties) empties++;
      if (decision.overwrites) overwrites++;
      if (dryRun) {
        planned!.set(blob.name, stagedFrom(blob));
        continue;
      }
      if (decision.empties || decision.overwrites) {
        // Replacing staged content waits for the guards, which need the whole listing: a stopped pull leaves staging
        // as it was, so the last good copy stays both here and at the target.
        deferred.push(blob);
        continue;
      }
      queued(blob);
      await pool.add(blob);
    }
  } catch (err) {
    // A listing that breaks off is never a complete one: let the transfers in flight land, delete nothing.
    fatal ??= err;
  }
  const deletes = fatal ? [] : [...store.names()].filter((n) => !seen.has(n));
  seen.clear();

  const changes = (extraDeletes: number) => ({ hop: "pull" as const, container, where: "staging", existing: stagedBefore,
    deletes: ctx.config.deleteDestination ? deletes.length + extraDeletes : 0, empties, overwrites });
  if (!fatal) {
    try {
      guardStop = applyGuards(ctx, changes(0), dryRun);
    } catch (err) {
      await pool.drain();
      await store.save();
      throw err;
    }
    for (const blob of deferred) {
      queued(blob);
      await pool.add(blob);
    }
  }
  await pool.drain();
  if (fatal) {
    if (!dryRun) await store.save();
    throw fatal;
  }
  if (vanished.length > 0 && ctx.config.deleteDestination) {
    // Deleted at the source after the listing: the staged version is stale, and the guard counts it as a deletion.
    try {
      applyGuards(ctx, changes(vanished.length), false);
    } catch (err) {
      await store.save();
      throw err;
    }
    deletes.push(...vanished);
  }

  if (ctx.config.deleteDestination) {
    if (stats.failed.length > 0 && deletes.length > 0) {
      stats.heldBack = deletes.length;
      ctx.events.warn("deletes.held", `${deletes.length} deletion(s) in staging held back for "${container}" because ${stats.failed.length} transfer(s) failed`, { container, hop: "pull" });
    } else {
      for (const name of deletes) {
        actions.push({ name, action: "delete", reason: "not in source" });
        if (dryRun) planned!.delete(name);
        else await store.remove(name, "deleted at source");
        stats.deleted++;
      }
    }
  }
  if (!dryRun) await store.save();
  return { stats, listingStart, actions, planned, guardStop };
}

/**
 * Stages one source blob. "vanished": it was deleted at the source after the listing (a 404, or gone when listed
 * again after a 412), so nothing was staged and any staged version is stale.
 */
export async function fetchOne(ctx: SyncContext, container: string, store: StagingStore, listed: RemoteBlob, stats: HopStats, onProgress: () => void): Promise<"staged" | "vanished"> {
  let blob = listed;
  let outcome: "staged" | "vanished" = "staged";
  await withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, async (attempt) => {
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
        onBytes: (n) => { counted += n; stats.bytes += n; onProgress(); },
      }, blob.kind === "PageBlob" ? ctx.src.pageBlob(container, blob.name) : undefined);
      await store.commit({ ...stagedFrom(blob), ...(got.pageRanges ? { pageRanges: got.pageRanges } : {}), stagedMd5: got.md5 }, tmp);
      if (got.staleStoredMd5) {
        stats.staleMd5++;
        ctx.events.warn("source.md5-stale", `"${blob.name}" in ${container}: its stored Content-MD5 ${blob.props.contentMD5} is not the MD5 of its bytes (${got.md5}; ` +
          "read twice, the same both times); replicated as served, with the stored value as it is", { container, blob: blob.name });
      }
    } catch (err) {
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

function isFatalLocal(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EIO" || (code === "EACCES" && statusOf(err) === undefined);
}

/** Bytes an unprivileged writer may still use on the staging file system; unknown counts as plenty. */
async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await fs.statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
}
