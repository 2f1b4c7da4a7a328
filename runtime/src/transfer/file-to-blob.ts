import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { BlockBlobClient, BlobHTTPHeaders } from "@azure/storage-blob";
import { normalizeEtag, StagedEntry } from "../model/blob";
import { SiteClient } from "../storage/site-client";
import { md5OfFile } from "./blob-to-file";
import { uploadViaScratch } from "./file-to-page-or-append";
import { forEachLimited } from "./pool";

export interface UploadOptions {
  /** Blobs up to this many bytes go in one Put Blob; larger ones as blocks and one Put Block List. */
  readonly singleShotMax: number;
  readonly blockSize: number;
  readonly blockConcurrency: number;
  readonly signal?: AbortSignal;
  readonly onBytes?: (n: number) => void;
}

/** Writes a staged blob of any type to `container` at `site`; returns the new ETag. */
export async function uploadEntry(site: SiteClient, container: string, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  if (entry.kind === "BlockBlob") return uploadFromFile(site.blob(container, entry.name), entry, path, opts);
  if (entry.props.contentMD5) checkMd5(entry, await md5OfFile(path));
  return uploadViaScratch(site, container, entry, path, opts);
}

/** Blobs up to this size are uploaded from memory. */
const BUFFERED_MAX = 4 * 1024 * 1024;

/** The staged bytes no longer match the source version they were copied from (disk damage, tampering). */
export class StagedCopyDamagedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StagedCopyDamagedError";
  }
}

function checkMd5(entry: StagedEntry, md5: string): void {
  if (entry.props.contentMD5 && md5 !== entry.props.contentMD5) {
    throw new StagedCopyDamagedError(`staged copy is damaged: its MD5 is ${md5}, the source's ${entry.props.contentMD5}; it was dropped from staging and the next pull re-fetches it`);
  }
}

/** The source's properties as upload headers, Content-MD5 included. */
export function headersOf(entry: StagedEntry): BlobHTTPHeaders {
  const p = entry.props;
  return {
    blobContentType: p.contentType,
    blobContentEncoding: p.contentEncoding,
    blobContentLanguage: p.contentLanguage,
    blobContentDisposition: p.contentDisposition,
    blobCacheControl: p.cacheControl,
    blobContentMD5: p.contentMD5 ? Buffer.from(p.contentMD5, "base64") : undefined,
  };
}

/**
 * Writes a staged blob to the destination with its properties and metadata, and returns the new ETag. Either
 * way the new blob appears in one step (Put Blob, or Put Block List after all blocks are staged), so readers
 * never see a half-written blob. When the source had a Content-MD5, the staged bytes are checked against it
 * first: a damaged staged file is refused instead of replicated.
 */
export async function uploadFromFile(client: BlockBlobClient, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  const common = { blobHTTPHeaders: headersOf(entry), metadata: { ...entry.metadata }, abortSignal: opts.signal };
  // Put Blob makes the service compute a Content-MD5; a source blob without one must arrive without one, so it
  // goes as blocks (a block list gets no computed MD5).
  const singleShot = !!entry.props.contentMD5;
  if (singleShot && entry.size <= BUFFERED_MAX) {
    // Small blobs are read once into memory: one read serves both the integrity check and the upload.
    const body = entry.size === 0 ? Buffer.alloc(0) : await readFile(path);
    if (body.length !== entry.size) throw new StagedCopyDamagedError(`staged copy is damaged: ${body.length} bytes, the source had ${entry.size}; it was dropped from staging and the next pull re-fetches it`);
    checkMd5(entry, createHash("md5").update(body).digest("base64"));
    const res = await client.upload(body, entry.size, common);
    opts.onBytes?.(entry.size);
    return normalizeEtag(res.etag);
  }
  if (entry.props.contentMD5) checkMd5(entry, await md5OfFile(path));
  if (singleShot && entry.size <= opts.singleShotMax) {
    const res = await client.upload(() => createReadStream(path), entry.size, common);
    opts.onBytes?.(entry.size);
    return normalizeEtag(res.etag);
  }
  const count = Math.ceil(entry.size / opts.blockSize);
  // Block IDs must all have the same length; a fixed-width counter gives that, and a retry reuses them harmlessly.
  const ids = Array.from({ length: count }, (_, i) => Buffer.from(`drsync-${String(i).padStart(6, "0")}`).toString("base64"));
  await forEachLimited(ids, opts.blockConcurrency, async (id, i) => {
    const start = i * opts.blockSize;
    const len = Math.min(opts.blockSize, entry.size - start);
    await client.stageBlock(id, () => createReadStream(path, { start, end: start + len - 1 }), len, { abortSignal: opts.signal });
    opts.onBytes?.(len);
  });
  const res = await client.commitBlockList(ids, common);
  return normalizeEtag(res.etag);
}
