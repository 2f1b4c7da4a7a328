import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import { BlockBlobClient, PageBlobClient } from "@azure/storage-blob";
import { RemoteBlob } from "../model/blob";
import { forEachLimited } from "./pool";

export interface DownloadResult {
  /** Page blobs: the written ranges, which are all that was fetched. */
  readonly pageRanges?: [number, number][];
}

export interface DownloadOptions {
  /** Blobs up to this many bytes come in one GET; larger ones in ranges. */
  readonly singleShotMax: number;
  readonly rangeSize: number;
  readonly rangeConcurrency: number;
  readonly signal?: AbortSignal;
  readonly onBytes?: (n: number) => void;
}

/** The bytes received do not match what the service promised; worth another attempt. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IntegrityError";
  }
}

/**
 * Streams one blob version into `path` (a temp file). Every request is conditional on the listed ETag, so a blob
 * rewritten mid-download fails with 412 instead of producing a file that mixes two versions. Large blobs come in
 * parallel ranges written at their offsets; memory stays at a few stream buffers per range.
 */
export async function downloadToFile(client: BlockBlobClient, blob: RemoteBlob, path: string, opts: DownloadOptions,
  pageClient?: PageBlobClient): Promise<DownloadResult> {
  if (blob.kind !== "PageBlob" && blob.size <= SMALL_IN_MEMORY) {
    await downloadSmall(client, blob, path, opts);
    return {};
  }
  const fh = await fs.open(path, "w", 0o600);
  let pageRanges: [number, number][] | undefined;
  try {
    const conditions = { ifMatch: blob.etag };
    const fetchRange = async (offset: number, count: number | undefined): Promise<void> => {
      const res = await client.download(offset, count, { conditions, abortSignal: opts.signal, maxRetryRequests: 3 });
      const body = res.readableStreamBody;
      let pos = offset;
      if (body) {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          await fh.write(chunk, 0, chunk.length, pos);
          pos += chunk.length;
          opts.onBytes?.(chunk.length);
        }
      }
      const expected = count ?? blob.size;
      if (pos - offset !== expected) throw new IntegrityError(`body truncated: got ${pos - offset} of ${expected} bytes at offset ${offset}`);
    };
    if (blob.kind === "PageBlob" && pageClient && blob.size > 0) {
      // A page blob (a VM disk) is mostly holes: fetch only the written pages into a sparse file.
      await fh.truncate(blob.size);
      const res = await pageClient.getPageRanges(0, blob.size, { conditions, abortSignal: opts.signal });
      // The SDK reports count as end - start of the inclusive REST range, one byte short; pages are 512-byte
      // aligned, so rounding up gives the true length whether or not the SDK ever corrects that.
      pageRanges = (res.pageRange ?? []).map((r) => [r.offset, Math.ceil((r.count ?? 0) / 512) * 512] as [number, number]);
      const pieces: [number, number][] = [];
      for (const [off, len] of pageRanges) {
        for (let o = off; o < off + len; o += opts.rangeSize) pieces.push([o, Math.min(opts.rangeSize, off + len - o)]);
      }
      await forEachLimited(pieces, opts.rangeConcurrency, ([off, len]) => fetchRange(off, len));
    } else if (blob.size === 0) {
      // One request still, so a blob deleted or rewritten since the listing is noticed.
      await client.getProperties({ conditions, abortSignal: opts.signal });
    } else if (blob.size <= opts.singleShotMax) {
      await fetchRange(0, undefined);
    } else {
      const ranges: [number, number][] = [];
      for (let off = 0; off < blob.size; off += opts.rangeSize) ranges.push([off, Math.min(opts.rangeSize, blob.size - off)]);
      await forEachLimited(ranges, opts.rangeConcurrency, ([off, len]) => fetchRange(off, len));
    }
  } finally {
    await fh.close();
  }
  if (blob.props.contentMD5) {
    const md5 = await md5OfFile(path);
    if (md5 !== blob.props.contentMD5) throw new IntegrityError(`Content-MD5 mismatch: the service says ${blob.props.contentMD5}, the bytes hash to ${md5}`);
  }
  return { pageRanges };
}

/** Blobs up to this size are received into memory and written with one call: most blobs are small, and per-chunk
 *  file writes and a second read for the MD5 check were most of their cost. */
const SMALL_IN_MEMORY = 1024 * 1024;

async function downloadSmall(client: BlockBlobClient, blob: RemoteBlob, path: string, opts: DownloadOptions): Promise<void> {
  const conditions = { ifMatch: blob.etag };
  let body: Buffer;
  if (blob.size === 0) {
    // One request still, so a blob deleted or rewritten since the listing is noticed.
    await client.getProperties({ conditions, abortSignal: opts.signal });
    body = Buffer.alloc(0);
  } else {
    const res = await client.download(0, undefined, { conditions, abortSignal: opts.signal, maxRetryRequests: 3 });
    const chunks: Buffer[] = [];
    let got = 0;
    for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      got += chunk.length;
      opts.onBytes?.(chunk.length);
    }
    if (got !== blob.size) throw new IntegrityError(`body truncated: got ${got} of ${blob.size} bytes at offset 0`);
    body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, got);
  }
  if (blob.props.contentMD5) {
    const md5 = createHash("md5").update(body).digest("base64");
    if (md5 !== blob.props.contentMD5) throw new IntegrityError(`Content-MD5 mismatch: the service says ${blob.props.contentMD5}, the bytes hash to ${md5}`);
  }
  await fs.writeFile(path, body, { mode: 0o600 });
}

/** Base64 MD5 of a file, streamed. */
export async function md5OfFile(path: string): Promise<string> {
  const h = createHash("md5");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("base64");
}
