import { join } from "node:path";
import { PushRecord } from "../model/blob";
import { StagingIndex } from "../index/staging-index";
import { exists } from "../staging/atomic-file";

/**
 * What each blob's last successful push to one target site wrote: the staged version (source ETag) and the ETag
 * the target gave it. Rows of the staged container's index (`push_records`), written in its batched transactions:
 * a run killed mid-push loses at most the last batch, and the next push adopts or rewrites those blobs
 * (docs/engine.md, "Commit order").
 */
export class PushRecords {
  /** Whether AHEAD_BLOCKS may hold a row: read once, then kept, so a push record costs no delete of a row that
   *  only large blobs sent ahead can have. */
  private aheadRows?: boolean;

  constructor(private readonly index: StagingIndex, readonly target: string) {}

  /**
   * The records of a staged container for reading only (verify), or undefined when it has no usable index.
   * Opened beside a run that may be writing, without writing anything: SQLite's WAL lets a reader see the last
   * committed rows without waiting for the writer.
   */
  static async readOnly(containerDir: string, target: string): Promise<{ records: PushRecords; close(): void } | undefined> {
    const file = join(containerDir, "index.db");
    if (!(await exists(file))) return undefined;
    let index: StagingIndex;
    try {
      index = StagingIndex.open(file, { reader: true });
    } catch {
      // Being created right now, or not an index at all (the next run says so): verify compares without records.
      return undefined;
    }
    return { records: new PushRecords(index, target), close: () => index.close() };
  }

  get(name: string): PushRecord | undefined {
    return this.index.getPushRecord(this.target, name);
  }

  count(): number {
    return this.index.countPushRecords(this.target);
  }

  /** Records what the target holds under `name` (an adoption: nothing was written). */
  set(name: string, rec: PushRecord): void {
    this.index.putPushRecord(this.target, name, rec);
  }

  /** Records a blob this run wrote and committed under `name`. */
  written(name: string, rec: PushRecord): void {
    this.set(name, rec);
    // Something of ours is committed under the name: no uncommitted block of an earlier attempt is left there
    // (an adoption commits nothing, and leaves them).
    if ((this.aheadRows ??= this.index.countQueued(AHEAD_BLOCKS) > 0)) this.index.dequeue(AHEAD_BLOCKS, this.aheadKey(name));
  }

  /** The source version whose blocks went ahead under `name` and may still wait uncommitted, if any. */
  blocksAhead(name: string): AheadBlocksSent | undefined {
    return this.index.queuedItem<AheadBlocksSent>(AHEAD_BLOCKS, this.aheadKey(name));
  }

  /** Notes that blocks of `sent.etag` go ahead under `name`, committed at once: before the first block goes, so a
   *  kill after it cannot forget that they wait there. */
  noteBlocksAhead(name: string, sent: AheadBlocksSent): void {
    this.index.enqueue(AHEAD_BLOCKS, this.aheadKey(name), sent);
    this.index.flush();
    this.aheadRows = true;
  }

  /** Forgets the blocks noted before `at` (service ms), at every target: the service has discarded them by now. */
  forgetBlocksAheadBefore(at: number): void {
    this.index.dequeueBefore(AHEAD_BLOCKS, at);
  }

  /** AHEAD_BLOCKS rows are per target, as the blocks are: a row about one site says nothing of another's. */
  private aheadKey(name: string): string {
    return `${this.target}\n${name}`;
  }

  delete(name: string): void {
    this.index.deletePushRecord(this.target, name);
  }

  /**
   * Drops the records of names no longer staged (their target copies were deleted, or vanished on their own), if
   * staging lost a name since the last prune: a pass over every record is not for a quiet cycle.
   */
  prune(): void {
    if (this.index.getMeta(UNSTAGED_META) !== "1") return;
    this.index.prunePushRecords();
    this.index.putMeta(UNSTAGED_META, "0");
  }
}

/**
 * Names whose blocks were sent ahead of their download (push-ahead.ts) and may still wait uncommitted at the
 * target, each with the source ETag they were of; keyed by target and name. Kept across runs, unlike the other
 * queues: a name gets blocks ahead for one source version only until something of ours is committed under it
 * (`PushRecords.written` drops the row), so a blob whose download keeps failing on new versions leaves one set of
 * uncommitted blocks, not one a run
 * (the service holds at most 100,000 per blob, for a week).
 */
export const AHEAD_BLOCKS = "push.ahead.blocks";

/** A row of AHEAD_BLOCKS: the source version whose blocks went ahead, and when (service clock, ms). */
export interface AheadBlocksSent {
  readonly etag: string;
  readonly at: number;
}

/** Meta key set to "1" (in the same transaction) whenever an entry leaves staging; see `PushRecords.prune`. */
export const UNSTAGED_META = "records.prune";

/** Notes in the index that a staged name went, so the next push prunes the records. */
export function noteUnstaged(index: StagingIndex): void {
  index.putMeta(UNSTAGED_META, "1");
}
