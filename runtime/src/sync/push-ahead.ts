import { StagingStore } from "../staging/staging-store";
import { PushRecords } from "../state/push-records";
import { describeError, kindOf } from "../storage/errors";
import { killPoint } from "../index/kill-point";
import { sendsInBlocks, uploadEntry } from "../transfer/file-to-blob";
import { BlocksAhead, MAX_BLOCKS, RangeSink } from "../transfer/blocks-ahead";
import { downloadRangeSize } from "../transfer/blob-to-file";
import { RemoteBlob } from "../model/blob";
import { WorkPool } from "../transfer/pool";
import { scratchPrefixFor } from "../shard/part";
import { MiB, SyncContext } from "./context";
import { PushWalk, UNRECORDED } from "./push";
import { randomUUID } from "node:crypto";
import { noteWrittenAhead } from "./added-names";
import { LinkedAbort } from "../transfer/linked-abort";

/**
 * How long a row of blocks sent ahead is taken to mean they still wait: the service keeps uncommitted blocks a
 * week from the blob's last Put Block, and a row is stamped before its first (a large download may send blocks for
 * hours after it, and a failed upload of the name sends more), so a day more than that week.
 */
const UNCOMMITTED_KEPT_MS = 8 * 24 * 3600 * 1000;

/** What was pushed ahead of the push. */
export interface AheadResult {
  readonly copied: number;
  readonly bytes: number;
  /** The run's mark in the rows of what it wrote ahead (added-names.ts). */
  readonly run: string;
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
 * disk) stops pushing ahead, and the push meets it again and reports it. The push's guards count only what the
 * target held when its guards last passed (added-names.ts): blobs written ahead never dilute a mass deletion, in
 * this run or, after a guard stopped it, the next.
 */
export class PushAhead {
  private container: Promise<void> | undefined;
  private stopped = false;
  private copied = 0;
  private bytes = 0;
  /** An index write that failed after an upload landed: the run must hear of it (`finish` throws it). */
  private failure: unknown;
  private readonly pool: WorkPool<string>;
  /** Aborted by `stop` (and by the run's own signal): the writes in flight end at once. */
  private readonly abort: LinkedAbort;
  /** The walk beside the pull, once it has ended well: until then no blob's blocks go ahead of its download. */
  private walk?: PushWalk;
  /** Large blobs whose blocks go to the target while they download, by name (as many as downloads at once). */
  private readonly early = new Map<string, BlocksAhead>();
  /** This run, in the rows of what it writes ahead (added-names.ts): the push counts those as its copies. */
  private readonly run = randomUUID();
  /** Whether this run has forgotten the rows of blocks the service has discarded by now. */
  private forgotten = false;
  /** Blocks let go of, until nothing of theirs is in flight. */
  private readonly settling = new Set<BlocksAhead>();

  constructor(private readonly ctx: SyncContext, private readonly name: string, private readonly store: StagingStore,
    private readonly records: PushRecords, private readonly walked: Promise<PushWalk>) {
    this.pool = new WorkPool(ctx.config.transferConcurrency, (blob) => this.push(blob));
    this.abort = new LinkedAbort(ctx.signal);
    walked.then((w) => { this.walk = w; }, () => undefined);
  }

  /**
   * For a large block blob about to be downloaded under a new name: a sink that sends its ranges to the target as
   * uncommitted blocks while the download goes on, when its write could go ahead now (the same tests as `push`,
   * with the walk already ended); otherwise none, and the blob goes ahead whole once staged, or with the push.
   */
  blocksFor(blob: RemoteBlob): RangeSink | undefined {
    const { ctx, walk } = this;
    if (!walk || this.stopped || this.abort.signal.aborted || blob.kind !== "BlockBlob" || this.early.has(blob.name)) return undefined;
    // A blob that goes in one Put Blob has no blocks to send ahead (and blocks would leave the name a blob).
    if (!sendsInBlocks(blob.size, blob.props.contentMD5, ctx.config.singleShotMaxMiB * MiB)) return undefined;
    // The ranges the pull will read it in (it passes blockSizeMiB as the range size).
    const rangeSize = downloadRangeSize(ctx.config.blockSizeMiB * MiB);
    if (Math.ceil(blob.size / rangeSize) > MAX_BLOCKS) return undefined;
    if (this.seenAtTarget(blob.name) || this.store.get(blob.name)) return undefined;
    // Rows of sets the service has discarded by now (names deleted at the source before they were ever staged):
    // once, by the clock the walk's listing has just measured (a VM clock that jumped would drop live rows).
    if (!this.forgotten && ctx.serviceClock.measured) {
      this.forgotten = true;
      this.records.forgetBlocksAheadBefore(ctx.serviceClock.now().getTime() - UNCOMMITTED_KEPT_MS);
    }
    // Blocks of another version sent earlier may still wait there uncommitted: this one goes with the push.
    const now = ctx.serviceClock.now().getTime();
    const sent = this.records.blocksAhead(blob.name);
    const waiting = sent !== undefined && now - sent.at < UNCOMMITTED_KEPT_MS;
    if (waiting && sent.etag !== blob.etag) return undefined;
    // When, too: the service's week starts again with each Put Block.
    this.records.noteBlocksAhead(blob.name, { etag: blob.etag, at: now });
    const blocks = new BlocksAhead(ctx.dst.blob(this.name, blob.name), blob, Math.ceil(blob.size / rangeSize), ctx.config.blockConcurrency,
      () => this.ensureContainer(walk), this.abort.signal, (err) => {
        // As a write ahead that fails so: nothing more goes ahead, and the push meets the error and reports it.
        if (kindOf(err) === "fatal") this.stopped = true;
      });
    this.early.set(blob.name, blocks);
    return blocks;
  }

  /** Told of each blob the pull staged under a name it had not staged before; never waits. */
  offer(blobName: string): void {
    if (this.stopped || !this.pool.tryAdd(blobName)) this.dropBlocks(blobName);
  }

  /** A blob that will not go ahead: its blocks sent meanwhile are let go of (the push sends its own). */
  private dropBlocks(blobName: string): void {
    const blocks = this.early.get(blobName);
    if (!blocks) return;
    this.early.delete(blobName);
    blocks.abandon();
    this.settling.add(blocks);
    void blocks.settled().finally(() => this.settling.delete(blocks));
  }

  /** Drops what is still queued and aborts what is in flight: the container stopped, and the push decides nothing. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Waits for the writes in flight; throws an index write that failed after its upload landed. */
  async finish(): Promise<AheadResult> {
    await this.pool.drain();
    // Blocks of blobs that never went ahead (a download that failed, a full queue): nothing may still be sending.
    for (const name of [...this.early.keys()]) this.dropBlocks(name);
    await Promise.all([...this.settling].map((b) => b.settled()));
    this.abort.release();
    if (this.failure !== undefined) throw this.failure;
    return { copied: this.copied, bytes: this.bytes, run: this.run };
  }

  /** The target has (or had) a blob of this name: the walk listed one without a record, or we wrote one. */
  private seenAtTarget(blobName: string): boolean {
    return this.store.rows.queuedItem(UNRECORDED, blobName) !== undefined || this.records.get(blobName) !== undefined;
  }

  /** Creates the container once, on the first write, if the walk found none; a failed create is tried again by the next. */
  private async ensureContainer(walk: PushWalk): Promise<void> {
    if (walk.destination.exists()) return;
    this.container ??= this.ctx.dst.ensureContainer(this.name, this.abort.signal).catch((err) => {
      this.container = undefined;
      throw err;
    });
    await this.container;
  }

  private async push(blobName: string): Promise<void> {
    const { ctx, name: container } = this;
    const signal = this.abort.signal;
    // The destination's listing decides what is new there: nothing goes ahead before the walk has read all of it.
    const walk = await this.walked.catch(() => undefined);
    if (!walk) this.stopped = true;
    // Blocks sent while it downloaded: settled before anything else is sent for this name.
    const blocks = this.early.get(blobName);
    this.early.delete(blobName);
    await blocks?.settled();
    if (!walk || this.stopped || signal.aborted) return;
    if (this.seenAtTarget(blobName)) return;
    const entry = this.store.get(blobName);
    if (!entry || entry.kind !== "BlockBlob") return;
    let etag: string;
    try {
      // Noted before the write, in the index's batch (committing each note first costs ~0.4 ms a blob, 10 times the
      // batched write): a kill loses at most the last second's notes with their push records, and those blobs then
      // count as held at a later push. The push's walk reads the queue in name order beside its own, and counts
      // only names it lists.
      noteWrittenAhead(this.store.rows, this.records.target, entry.name, this.run);
      await this.ensureContainer(walk);
      etag = await uploadEntry(ctx.dst, container, entry, this.store.dataPath(entry), {
        blocksAhead: blocks, rangeMd5s: () => this.store.rangeMd5s(entry), singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB,
        blockConcurrency: ctx.config.blockConcurrency, signal, conditions: { ifNoneMatch: "*" },
        scratchPrefix: scratchPrefixFor(ctx.shard),
      });
    } catch (err) {
      if (kindOf(err) === "fatal") this.stopped = true;
      ctx.events.debug("push.ahead.left", `"${entry.name}" in ${container} is left to the push: ${describeError(err)}`, { container, blob: entry.name });
      return;
    }
    killPoint("push.ahead.after-upload");
    try {
      this.records.written(entry.name, { srcEtag: entry.srcEtag, dstEtag: etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
    } catch (err) {
      this.failure ??= err;
      this.stop();
      return;
    }
    this.copied++;
    this.bytes += entry.size;
    ctx.events.debug("blob.pushed", `pushed "${entry.name}" ahead of the push`, { container, blob: entry.name, size: entry.size });
  }
}
