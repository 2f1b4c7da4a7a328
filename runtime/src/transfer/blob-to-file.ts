import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { BlobDownloadResponseParsed, BlockBlobClient, PageBlobClient } from "@azure/storage-blob";
import { RangeMd5s, RemoteBlob } from "../model/blob";
import { md5OfFile, md5OfRanges } from "./file-hash";
import { forEachLimited } from "./pool";
import { OrderedFileMd5 } from "./ordered-file-md5";
import { MAX_BLOCKS, type RangeSink } from "./blocks-ahead";

export interface DownloadResult {
  /** Page blobs: the written ranges, which are all that was fetched. */
  readonly pageRanges?: [number, number][];
  /** Base64 MD5 of the bytes as written to `path` (page blobs: of the written ranges, in order). */
  readonly md5: string;
  /** The blob's stored Content-MD5 does not match its bytes, and two reads gave the same bytes: the property is stale. */
  readonly staleStoredMd5: boolean;
  /** Block blobs received in ranges: each range's MD5, for the push to send as its blocks' (file-to-blob.ts). */
  readonly rangeMd5s?: RangeMd5s;
}

export interface DownloadOptions {
  /** Blobs up to this many bytes come in one GET; larger ones in ranges. */
  readonly singleShotMax: number;
  readonly rangeSize: number;
  readonly rangeConcurrency: number;
  readonly signal?: AbortSignal;
  readonly onBytes?: (n: number) => void;
  /** A block blob's ranges, each once it is on disk and verified (blocks-ahead.ts). @default none */
  readonly onRange?: RangeSink;
}

/** The bytes received do not match what the service promised; worth another attempt. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IntegrityError";
  }
}

/** The largest range for which the service returns a transactional MD5 (x-ms-range-get-content-md5, 2017-11-09). */
export const RANGE_MD5_MAX = 4 * 1024 * 1024;

/** The size of the ranges a large blob is downloaded in, for a configured range (block) size: at most RANGE_MD5_MAX. */
export function downloadRangeSize(configured: number): number {
  return Math.min(configured, RANGE_MD5_MAX);
}

/**
 * Streams one blob version into `path` (a temp file). Block and page blobs are read conditional on the listed
 * ETag, so a blob rewritten mid-download fails with 412 instead of producing a file that mixes two versions. An
 * append blob is read without that condition, up to its listed length: appends only add bytes after it, so that
 * prefix is a consistent copy of the listed version even while a writer keeps appending.
 *
 * Integrity: every partial range comes with the service's MD5 of that range, checked as it arrives (so does a
 * read of a whole blob that has no stored MD5, when the service sends one). The blob's
 * stored Content-MD5 is checked too, but writers can leave it stale (page writes, appends, a block list committed
 * with a wrong MD5; the service checks none of these): on a mismatch the blob is read a second time, and when both
 * reads agree the bytes as served are the truth and the stale property is reported, not treated as damage.
 */
export async function downloadToFile(client: BlockBlobClient, blob: RemoteBlob, path: string, opts: DownloadOptions,
  pageClient?: PageBlobClient): Promise<DownloadResult> {
  const first = await readOnce(client, blob, path, opts, pageClient);
  const rangeMd5s = first.rangeMd5s;
  if (!blob.props.contentMD5 || first.storedMd5Candidate === blob.props.contentMD5) {
    return { pageRanges: first.pageRanges, md5: first.md5, staleStoredMd5: false, rangeMd5s };
  }
  const confirmPath = `${path}.confirm`;
  try {
    const second = await readOnce(client, blob, confirmPath, { ...opts, onBytes: undefined, onRange: undefined }, pageClient);
    if (second.storedMd5Candidate !== first.storedMd5Candidate) {
      throw new IntegrityError(`Content-MD5 mismatch: the service says ${blob.props.contentMD5}, two reads of the bytes hash to ${first.storedMd5Candidate} and ${second.storedMd5Candidate}`);
    }
  } finally {
    await fs.rm(confirmPath, { force: true });
  }
  return { pageRanges: first.pageRanges, md5: first.md5, staleStoredMd5: true, rangeMd5s };
}

interface OneRead {
  readonly pageRanges?: [number, number][];
  readonly md5: string;
  /** What to compare with the stored Content-MD5: the MD5 of the blob's whole content, holes included. */
  readonly storedMd5Candidate: string;
  readonly rangeMd5s?: RangeMd5s;
}

async function readOnce(client: BlockBlobClient, blob: RemoteBlob, path: string, opts: DownloadOptions, pageClient?: PageBlobClient): Promise<OneRead> {
  const conditions = blob.kind === "AppendBlob" ? {} : { ifMatch: blob.etag };
  if (blob.kind !== "PageBlob" && blob.size <= SMALL_IN_MEMORY) {
    const body = await downloadSmall(client, blob, conditions, opts);
    await fs.writeFile(path, body, { mode: 0o600 });
    const md5 = createHash("md5").update(body).digest("base64");
    return { md5, storedMd5Candidate: md5 };
  }
  const rangeSize = downloadRangeSize(opts.rangeSize);
  const fh = await fs.open(path, "w+", 0o600);
  let pageRanges: [number, number][] | undefined;
  // A block blob's ranges are all of rangeSize but the last: their MD5s are the push's blocks' (file-to-blob.ts).
  const md5s: string[] | undefined = blob.kind === "BlockBlob" ? [] : undefined;
  // A block or append blob is one run of ranges: hashed whole in order as they land (a page blob's holes are not).
  let wholeMd5: string | undefined;
  const whole = blob.kind !== "PageBlob" && blob.size > 0 ? new OrderedFileMd5(fh, blob.size, rangeSize, Math.ceil(blob.size / rangeSize)) : undefined;
  try {
    const fetchRange = async (offset: number, count: number): Promise<void> => {
      const partial = offset > 0 || count < blob.size;
      // A blob without a stored Content-MD5 read in one range: only the range's own MD5 can check it.
      const askedMd5 = (partial || blob.kind === "AppendBlob" || !blob.props.contentMD5) && count <= RANGE_MD5_MAX;
      const res = await client.download(offset, count, { conditions, abortSignal: opts.signal, maxRetryRequests: 3, rangeGetContentMD5: askedMd5 });
      checkKind(blob, res);
      const h = createHash("md5");
      let pos = offset;
      for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) {
        await writeWhole(fh, chunk, pos);
        h.update(chunk);
        pos += chunk.length;
        opts.onBytes?.(chunk.length);
      }
      if (pos - offset !== count) throw new IntegrityError(`body truncated: got ${pos - offset} of ${count} bytes at offset ${offset}`);
      const md5 = h.digest("base64");
      checkRangeMd5(res, md5, offset, askedMd5, !blob.props.contentMD5);
      if (md5s) {
        md5s[offset / rangeSize] = md5;
        opts.onRange?.landed(path, offset / rangeSize, offset, count, md5);
      }
      // Not waited for: the range's slot goes to the next range; a failed read-back is thrown by digest().
      whole?.landedRange(offset / rangeSize).catch(() => undefined);
    };
    if (blob.kind === "PageBlob" && pageClient && blob.size > 0) {
      // A page blob (a VM disk) is mostly holes: fetch only the written pages into a sparse file.
      await fh.truncate(blob.size);
      const res = await pageClient.getPageRanges(0, blob.size, { conditions, abortSignal: opts.signal });
      // The SDK reports count as end - start of the inclusive REST range, one byte short; pages are 512-byte
      // aligned, so rounding up gives the true length whether or not the SDK ever corrects that.
      pageRanges = (res.pageRange ?? []).map((r) => [r.offset, Math.ceil((r.count ?? 0) / 512) * 512] as [number, number]);
      await forEachLimited(pieces(pageRanges, rangeSize), opts.rangeConcurrency, ([off, len]) => fetchRange(off, len));
    } else if (blob.size === 0) {
      // One request still, so a blob deleted or rewritten since the listing is noticed.
      await client.getProperties({ conditions, abortSignal: opts.signal });
    } else {
      await forEachLimited(pieces([[0, blob.size]], rangeSize), opts.rangeConcurrency, ([off, len]) => fetchRange(off, len));
    }
    // A range that reads back short was not written whole: worth another attempt, as a truncated body is.
    if (whole) wholeMd5 = await whole.digest().catch((err) => { throw (err as NodeJS.ErrnoException).code ? err : new IntegrityError((err as Error).message); });
  } finally {
    await fh.close();
  }
  const md5 = wholeMd5 ?? await md5OfStaged(path, pageRanges);
  const storedMd5Candidate = pageRanges && blob.props.contentMD5 ? await md5OfFile(path) : md5;
  // More ranges than a block list holds: the upload cannot use them (file-to-blob.ts), so no row is kept.
  return { pageRanges, md5, storedMd5Candidate, ...(md5s && md5s.length > 0 && md5s.length <= MAX_BLOCKS ? { rangeMd5s: { rangeSize, md5s } } : {}) };
}

/** Blobs up to this size are received into memory and written with one call: most blobs are small, and per-chunk
 *  file writes and a second read for the MD5 check were most of their cost. */
const SMALL_IN_MEMORY = 1024 * 1024;

async function downloadSmall(client: BlockBlobClient, blob: RemoteBlob, conditions: { ifMatch?: string }, opts: DownloadOptions): Promise<Buffer> {
  if (blob.size === 0) {
    // One request still, so a blob deleted or rewritten since the listing is noticed.
    await client.getProperties({ conditions, abortSignal: opts.signal });
    return Buffer.alloc(0);
  }
  // The exact listed length: an append blob may have grown since. Asked as a range, the service answers with
  // the range's own MD5; a range covering the whole blob gets the stored one, which is checked by the caller.
  // Without a stored one, the MD5 it sends can only be the range's: asked for, and checked when sent.
  const partial = blob.kind === "AppendBlob";
  const unstored = !blob.props.contentMD5;
  const res = await client.download(0, blob.size, { conditions, abortSignal: opts.signal, maxRetryRequests: 3, rangeGetContentMD5: partial || unstored });
  checkKind(blob, res);
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    got += chunk.length;
    opts.onBytes?.(chunk.length);
  }
  if (got !== blob.size) throw new IntegrityError(`body truncated: got ${got} of ${blob.size} bytes at offset 0`);
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, got);
  if (partial || unstored) checkRangeMd5(res, createHash("md5").update(body).digest("base64"), 0, true, unstored);
  return body;
}

/** Writes all of `chunk` at `pos`: a write may take fewer bytes than it was given (a nearly full disk). */
async function writeWhole(fh: fs.FileHandle, chunk: Buffer, pos: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, pos + done);
    if (bytesWritten <= 0) throw new Error(`the staging disk took none of ${chunk.length - done} bytes at offset ${pos + done}`);
    done += bytesWritten;
  }
}

/**
 * A range's transactional MD5, when the service sent one for a partial range (or, with `unstored`, for a blob with
 * no stored Content-MD5, where it can only be the range's), must match the bytes received. A partial range whose
 * MD5 was `asked` for must have one: its bytes would go unchecked, and their MD5 be recorded as the received one.
 */
function checkRangeMd5(res: BlobDownloadResponseParsed, got: string, offset: number, asked: boolean, unstored: boolean): void {
  if (!res.contentMD5) {
    if (asked && coversPart(res.contentRange)) throw new IntegrityError(`range at offset ${offset} came without the MD5 asked for; it cannot be checked`);
    return;
  }
  // A response covering the whole blob may carry the stored Content-MD5 (possibly stale), not one of the range.
  if (!(unstored || coversPart(res.contentRange))) return;
  const sent = Buffer.from(res.contentMD5).toString("base64");
  if (sent !== got) throw new IntegrityError(`range at offset ${offset} arrived damaged: the service's MD5 of it is ${sent}, the bytes hash to ${got}`);
}

/** True for a Content-Range ("bytes 0-99/200") that covers less than the whole blob. */
function coversPart(contentRange: string | undefined): boolean {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? "");
  return !!m && Number(m[2]) - Number(m[1]) + 1 < Number(m[3]);
}

/** Without the ETag condition (append blobs), a blob replaced by one of another type is caught here. */
function checkKind(blob: RemoteBlob, res: BlobDownloadResponseParsed): void {
  if (res.blobType && res.blobType !== blob.kind) {
    throw new IntegrityError(`"${blob.name}" is now a ${res.blobType}, listed as a ${blob.kind}`);
  }
}

/** Splits ranges into pieces of at most `size` bytes. */
export function pieces(ranges: readonly (readonly [number, number])[], size: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [off, len] of ranges) {
    for (let o = off; o < off + len; o += size) out.push([o, Math.min(size, off + len - o)]);
  }
  return out;
}

/**
 * The MD5 recorded for a staged copy and checked before every push: of the whole file, or for a page blob of its
 * written ranges in order (a VM disk's holes are not read twice).
 */
export async function md5OfStaged(path: string, pageRanges?: readonly (readonly [number, number])[]): Promise<string> {
  return pageRanges ? md5OfRanges(path, pageRanges) : md5OfFile(path);
}
