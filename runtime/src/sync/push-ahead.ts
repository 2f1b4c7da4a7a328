import { StagingStore } from "../staging/staging-store";
import { PushRecords } from "../state/push-records";
import { describeError, kindOf } from "../storage/errors";
import { killPoint } from "../index/kill-point";
import { uploadEntry } from "../transfer/file-to-blob";
import { WorkPool } from "../transfer/pool";
import { scratchPrefixFor } from "../shard/part";
import { MiB, SyncContext } from "./context";
import { AHEAD, PushWalk, UNRECORDED } from "./push";

/** What was pushed ahead of the push. */
export interface AheadResult {
  readonly copied: number;
  readonly bytes: number;
}

/**
 * Pushes the blobs a pull stages under new names while the pull goes on, so that a first copy (or a cycle that
 * adds many blobs) keeps both sites busy at once instead of one after the other.
 *
 * Only writes that need no decision and no guard go ahead: a block blob that had no staged version before this
 * pull, with no push record and no blob of its name in the destination's listing (the push's walk beside the
 * pull, awaited before anything goes ahead, notes every destination name without a record), written
 * `If-None-Match: *`, so it never replaces anything. Everything else is left to the
 * push after the pull, which lists the target again (the pull moved data) and finds these done by their records:
 * an offer made while the queue is full, a blob written at the target meanwhile (the condition fails), any
 * failure. Nothing here is retried or counted as failed; a failure of a fatal kind (credentials, the staging
 * disk) stops pushing ahead, and the push meets it again and reports it.
 */
export class PushAhead {
  private container: Promise<void> | undefined;
  private stopped = false;
  private copied = 0;
  private bytes = 0;
  private readonly pool: WorkPool<string>;

  constructor(private readonly ctx: SyncContext, private readonly name: string, private readonly store: StagingStore,
    private readonly records: PushRecords, private readonly walked: Promise<PushWalk>) {
    store.rows.clearQueue(AHEAD);
    this.pool = new WorkPool(ctx.config.transferConcurrency, (blob) => this.push(blob));
  }

  /** Told of each blob the pull staged under a name it had not staged before; never waits. */
  offer(blobName: string): void {
    if (!this.stopped) this.pool.tryAdd(blobName);
  }

  /** Drops what is still queued: the pull failed, and the push decides everything. */
  stop(): void {
    this.stopped = true;
  }

  /** Waits for the writes in flight. */
  async finish(): Promise<AheadResult> {
    await this.pool.drain();
    return { copied: this.copied, bytes: this.bytes };
  }

  private async push(blobName: string): Promise<void> {
    const { ctx, name: container } = this;
    // The destination's listing decides what is new there: nothing goes ahead before the walk has read all of it.
    const walk = await this.walked.catch(() => undefined);
    if (!walk) this.stopped = true;
    if (!walk || this.stopped || ctx.signal.aborted) return;
    if (this.store.rows.queuedItem(UNRECORDED, blobName) !== undefined || this.records.get(blobName)) return;
    const entry = this.store.get(blobName);
    if (!entry || entry.kind !== "BlockBlob") return;
    try {
      if (!walk.destination.exists()) {
        // Created once, on the first write; a failed create is tried again by the next.
        this.container ??= ctx.dst.ensureContainer(container, ctx.signal).catch((err) => {
          this.container = undefined;
          throw err;
        });
        await this.container;
      }
      const etag = await uploadEntry(ctx.dst, container, entry, this.store.dataPath(entry), {
        singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB,
        blockConcurrency: ctx.config.blockConcurrency, signal: ctx.signal, conditions: { ifNoneMatch: "*" },
        scratchPrefix: scratchPrefixFor(ctx.shard),
      });
      killPoint("push.ahead.after-upload");
      this.records.set(entry.name, { srcEtag: entry.srcEtag, dstEtag: etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
      this.store.rows.enqueue(AHEAD, entry.name, entry.size);
      this.copied++;
      this.bytes += entry.size;
      ctx.events.debug("blob.pushed", `pushed "${entry.name}" ahead of the push`, { container, blob: entry.name, size: entry.size });
    } catch (err) {
      if (kindOf(err) === "fatal") this.stopped = true;
      ctx.events.debug("push.ahead.left", `"${entry.name}" in ${container} is left to the push: ${describeError(err)}`, { container, blob: entry.name });
    }
  }
}
