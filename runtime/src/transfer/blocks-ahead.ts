import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, FileHandle } from "node:fs/promises";
import { BlockBlobClient } from "@azure/storage-blob";
import { WorkPool } from "./pool";
import { LinkedAbort } from "./linked-abort";
import { killPoint } from "../index/kill-point";

/**
 * Where a download's ranges go once each is on disk and verified, while the rest are still arriving; never waits.
 * `abandon` is called when the download attempt fails: what it gave is not the blob's.
 */
export interface RangeSink {
  landed(path: string, index: number, offset: number, length: number, md5: string): void;
  abandon(): void;
}

/** The most blocks one block blob can have. */
export const MAX_BLOCKS = 50_000;

/** The largest block service version 2017-11-09 takes (config's `blockSizeMiB` at most); 50,000 of them, 4.77 TiB,
 *  is the largest block blob it can hold. */
export const MAX_BLOCK_BYTES = 100 * 1024 * 1024;

/**
 * The block size an upload of `size` bytes uses: `configured`, or the smallest whole MiB that fits the blob in
 * MAX_BLOCKS when `configured` does not (a 60 GiB blob at 1 MiB would be sent whole, then refused at its commit).
 * Throws, before anything is sent, for a blob that no block list can hold.
 */
export function blockSizeFor(size: number, configured: number): number {
  if (size <= configured * MAX_BLOCKS) return configured;
  const MiB = 1024 * 1024;
  const fits = Math.ceil(size / MAX_BLOCKS / MiB) * MiB;
  if (fits > MAX_BLOCK_BYTES) throw new Error(`a block blob of ${size} bytes needs more than ${MAX_BLOCKS} blocks of ${MAX_BLOCK_BYTES / MiB} MiB, the most service version 2017-11-09 allows; it cannot be written`);
  return fits;
}

/** The block IDs of one writer: all of one length (the service requires it per blob), this many characters. */
export const BLOCK_ID_CHARS = 13;

/** A block ID of `n`: `prefix` (7 characters) and a 6-digit counter, base64 as the service takes it. */
export function blockId(prefix: string, n: number): string {
  return Buffer.from(`${prefix}${String(n).padStart(BLOCK_ID_CHARS - prefix.length, "0")}`).toString("base64");
}

/** The 7-character block ID prefix of blocks sent ahead for one source version: never `drsync-` (the upload's own). */
export function aheadBlockPrefix(name: string, etag: string): string {
  return `e${createHash("sha256").update(`${name}\n${etag}`).digest("base64url").slice(0, 6)}`;
}

/**
 * The blocks of one large new block blob, written to the target while the blob is still downloading: each range
 * the download has on disk and verified is sent as an uncommitted block (Put Block, with the range's MD5), so the
 * blob's write to the target runs beside its read from the source instead of after it. Nothing becomes visible:
 * only a Put Block List makes a blob, and that stays with the upload (file-to-blob.ts), which takes the blocks sent
 * here (`stagedId`) and sends any other itself. The IDs carry a prefix of their own per source version (its name
 * and ETag), and a commit takes only blocks this very attempt sent and the service took, with the MD5 the staged
 * copy was received with: blocks of an attempt that failed, or of a version that changed, are never listed. Reads go through a
 * descriptor opened while the temp file is still in place, so the file's move into staging does not matter.
 */
export class BlocksAhead implements RangeSink {
  /** Per range: the block ID it was sent under and the MD5 sent with it, once the service took it. */
  private readonly sent = new Map<number, { id: string; md5: string }>();
  /** One per source version (name and ETag): attempts at the same version reuse their IDs for the same bytes, so
   *  uncommitted blocks left behind stay one set per version (the service allows 100,000 per blob). */
  private readonly prefix: string;
  /** Set by `abandon`, which the run's signal calls too. */
  private readonly abort: LinkedAbort;
  private readonly pool: WorkPool<{ index: number; offset: number; length: number; md5: string }>;
  private fh?: Promise<FileHandle>;
  private abandoned = false;
  /** Set by the first block the service did not take: the rest are left to the upload, not tried one by one. */
  private refused = false;
  private done = 0;

  /** `count`: the blob's ranges; once each was tried (or the attempt abandoned) the file is let go of. */
  /** `onRefused` hears the first error a block met (for the caller to stop going ahead on one of a fatal kind). */
  constructor(private readonly client: BlockBlobClient, version: { readonly name: string; readonly etag: string }, private readonly count: number,
    concurrency: number, private readonly ready: () => Promise<void>, signal: AbortSignal, private readonly onRefused: (err: unknown) => void = () => undefined) {
    this.prefix = aheadBlockPrefix(version.name, version.etag);
    this.pool = new WorkPool(concurrency, (r) => this.send(r), Number.MAX_SAFE_INTEGER);
    this.abort = new LinkedAbort(signal, () => this.abandon());
  }

  landed(path: string, index: number, offset: number, length: number, md5: string): void {
    if (this.abandoned) return;
    if (!this.fh) {
      this.fh = open(path, "r");
      // Awaited by each send; a failed open (EMFILE) just sends nothing, and must not go unhandled meanwhile.
      this.fh.catch(() => undefined);
    }
    // Only indexes: the bytes stay on disk (page cache) until a worker sends them.
    this.pool.tryAdd({ index, offset, length, md5 });
  }

  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.abort.abort();
    this.closeWhenIdle();
  }

  /** Resolves once nothing is in flight any more (blocks sent, failed or aborted), the file closed. */
  async settled(): Promise<void> {
    await this.pool.drain();
    this.abort.release();
    await this.closeFile();
  }

  /** The ID range `index` was sent under, if the service took it with exactly this MD5 and the attempt stood. */
  stagedId(index: number, md5: string): string | undefined {
    if (this.abandoned) return undefined;
    const s = this.sent.get(index);
    return s && s.md5 === md5 ? s.id : undefined;
  }

  private async send(r: { index: number; offset: number; length: number; md5: string }): Promise<void> {
    if (this.abandoned || this.refused) return;
    try {
      await this.ready();
      const fd = (await this.fh!).fd;
      const id = blockId(this.prefix, r.index);
      await this.client.stageBlock(id, () => createReadStream("", { fd, start: r.offset, end: r.offset + r.length - 1, autoClose: false }), r.length, {
        abortSignal: this.abort.signal, transactionalContentMD5: Buffer.from(r.md5, "base64"),
      });
      this.sent.set(r.index, { id, md5: r.md5 });
      killPoint("push.ahead.after-block");
    } catch (err) {
      // Left to the upload, which sends what is missing itself and meets any error that matters there. A target
      // that refuses one block (credentials, throttling, a full account) would refuse the rest: each would cost
      // its own tries and then be sent again by the upload, twice the load on a target already struggling.
      if (!this.refused && !this.abandoned) {
        this.refused = true;
        this.onRefused(err);
      }
    } finally {
      // A descriptor per blob waiting for its upload would add up over a run of many large blobs.
      if (++this.done === this.count) this.closeWhenIdle();
    }
  }

  private closeWhenIdle(): void {
    void this.pool.drain().then(() => this.closeFile());
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.then((f) => f.close()).catch(() => undefined);
  }
}
