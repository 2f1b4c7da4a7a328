import { promises as fs } from "node:fs";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { RetentionReason } from "../staging/retention";
import { StagingStore } from "../staging/staging-store";
import { PushRecords } from "../state/push-records";
import { describeError, FatalError, fatalOf, isLeaseConflict, isNotFound, leasedMessage, statusOf } from "../storage/errors";
import { HopStats, ItemAction, SyncContext } from "./context";
import { applyGuards, HopChanges } from "./guards";
import { withItemRetry } from "./item-retry";
import { goneSinceListed } from "./gone";
import type { RangeSink } from "../transfer/blocks-ahead";
import { fetchOne, stagedFrom } from "./pull";
import { Job, pushOne, retainDestination } from "./push";
import { keepVersion } from "./versions-ahead";

/**
 * The one place where the hops change anything: staging (a blob staged over another, or removed), the target
 * (written, deleted, its old version kept) and the push records. The hops walk, decide and count; the executor
 * acts. `plan` swaps in `planExecutor`, which records instead, so a dry run goes through the same code as a run.
 */
export interface Executor {
  /** Bytes the pull may still stage before the disk is full. */
  stagingFreeBytes(): Promise<number>;
  /** Applies the guards to a hop's counted changes: throws the GuardError in a run, returns the stop in a plan. */
  guard(changes: HopChanges): string | undefined;
  /** One action a hop takes on one blob, for the plan to show (a run keeps nothing per blob). */
  report(hop: "pull" | "push", action: ItemAction): void;

  /** Stages one source blob, new or over an older version; "vanished" when the source deleted it since the listing.
   *  `early` may take its ranges as they land (a plan ignores it). */
  stage(blob: RemoteBlob, stats: HopStats, onProgress: () => void, early?: (blob: RemoteBlob) => RangeSink | undefined): Promise<"staged" | "vanished">;
  /** Removes a staged blob, its last version kept in the retention area. */
  unstage(name: string, reason: RetentionReason): Promise<void>;

  /** Records a destination blob that provably holds the staged version as ours, moving no bytes. */
  adopt(records: PushRecords, entry: StagedEntry, dst: RemoteBlob): void;
  /** Before the first write: removes scratch blobs a killed run left, and creates the container if it is missing. */
  prepareDestination(container: string, exists: boolean, scratch: readonly string[]): Promise<void>;
  /** Writes one staged blob over what the listing saw (conditionally). */
  upload(records: PushRecords, job: Job, stats: HopStats, onProgress: () => void): Promise<void>;
  /** Deletes one destination blob not in staging, after keeping what we hold no copy of. */
  deleteAtDestination(records: PushRecords, dst: RemoteBlob, stats: HopStats): Promise<void>;
}

/** The executor of a run: every change made for real, for one container's hops. */
export function storageExecutor(ctx: SyncContext, container: string, store: StagingStore): Executor {
  const retry = <T>(fn: () => Promise<T>) => withItemRetry(3, ctx.config.retry.retryDelayMs, ctx.signal, fn);
  return {
    stagingFreeBytes: () => freeBytes(ctx.config.stagingDir),
    guard: (changes) => applyGuards(ctx, changes, false),
    report: () => undefined,
    stage: (blob, stats, onProgress, early) => fetchOne(ctx, container, store, blob, stats, onProgress, early),
    unstage: (name, reason) => store.remove(name, reason),
    adopt: (records, entry, dst) => records.set(entry.name, { srcEtag: entry.srcEtag, dstEtag: dst.etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 }),

    async prepareDestination(c, exists, scratch) {
      // Scratch blobs of a killed run: never data of anyone's (the real name only ever gets a finished copy).
      for (const name of scratch) await ctx.dst.blob(c, name).deleteIfExists({ abortSignal: ctx.signal }).catch(() => undefined);
      if (exists) return;
      try {
        await ctx.dst.container(c).create({ abortSignal: ctx.signal });
        ctx.events.info("container.created", `created container "${c}" at ${ctx.dst.label}`, { container: c });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 409) return;
        throw fatalOf(err, { side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, operation: `create container "${c}"`, doing: `creating container "${c}"`,
          stagingDir: ctx.config.stagingDir, consequence: "nothing was written" }) ?? new FatalError(`${ctx.dst.label}: could not create container "${c}" (${describeError(err)})`);
      }
    },

    async upload(records, job, stats, onProgress) {
      const { entry } = job;
      await pushOne(ctx, container, store, records, job, stats, onProgress);
      ctx.events.debug("blob.pushed", `pushed "${entry.name}"`, { container, blob: entry.name, size: entry.size });
    },

    async deleteAtDestination(records, dst, stats) {
      if (dst.etag !== records.get(dst.name)?.dstEtag && (await retainDestination(ctx, container, store, dst))) stats.retainedFromDestination++;
      const blob = ctx.dst.blob(container, dst.name);
      if (ctx.versions) {
        // Gone since the listing (the copy has no source): nothing to keep, and nothing left to delete. Any other
        // 404 (the versions container deleted meanwhile) fails the deletion: nothing goes without its version.
        const kept = await retry(() => keepVersion(ctx, container, store.rows, dst, "deleted by a push")).then(() => true, async (err) => {
          if (await goneSinceListed(err, blob, ctx.signal)) return false;
          throw err;
        });
        if (kept) stats.versionsKept++;
      }
      await retry(() => blob.delete({ conditions: { ifMatch: dst.etag }, abortSignal: ctx.signal }).catch(async (err) => {
        if (isLeaseConflict(err)) throw new Error(`${leasedMessage(ctx.dst.label)} (${describeError(err)})`);
        if (isNotFound(err)) return;
        // A service may answer a conditional delete of a blob that is gone with 412 (Azurite does): gone is done.
        if (statusOf(err) === 412 && !(await blob.exists({ abortSignal: ctx.signal }))) return;
        throw err;
      }));
      records.delete(dst.name);
    },
  };
}

/** Where the plan's executor sends each action a hop would take, as the walk finds it (nothing is kept). */
export type PlanReport = (hop: "pull" | "push", action: ItemAction) => void;

/**
 * The executor of `plan`: nothing at either site or in staging changes. The pull's changes go into `planned`, the
 * container's index in a transaction that is never committed (`StagingStore.planView`), so the push is planned on
 * staging as the pull would leave it, through the same walk.
 */
export function planExecutor(ctx: SyncContext, planned: StagingStore, report: PlanReport): Executor {
  return {
    stagingFreeBytes: async () => Infinity,
    guard: (changes) => applyGuards(ctx, changes, true),
    report,
    async stage(blob) {
      planned.rows.putEntry(stagedFrom(blob));
      return "staged";
    },
    async unstage(name) {
      planned.rows.deleteEntry(name);
    },
    adopt: () => undefined,
    prepareDestination: async () => undefined,
    async upload(_records, job, stats) {
      stats.bytes += job.entry.size;
    },
    deleteAtDestination: async () => undefined,
  };
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
