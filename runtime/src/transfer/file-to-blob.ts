import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { BlockBlobClient, BlobHTTPHeaders } from "@azure/storage-blob";
import { normalizeEtag, RangeMd5s, StagedEntry, storedMd5 } from "../model/blob";
import { SiteClient } from "../storage/site-client";
import { IntegrityError, md5OfStaged } from "./blob-to-file";
import { md5OfBlocks, md5OfRange } from "./file-hash";
import { describeError, errorCodeOf, statusOf } from "../storage/errors";
import { uploadViaScratch } from "./file-to-page-or-append";
import { forEachLimited } from "./pool";
import { BlocksAhead, blockId, blockSizeFor, MAX_BLOCKS } from "./blocks-ahead";

/** What the destination must still be for the write to land: the version our listing saw, or nothing. */
export interface WriteConditions {
  /** Replace only this version (its ETag). */
  readonly ifMatch?: string;
  /** "*": create only; fail if a blob of that name appeared. */
  readonly ifNoneMatch?: string;
}

export interface UploadOptions {
  /** Blobs up to this many bytes go in one Put Blob; larger ones as blocks and one Put Block List. */
  readonly singleShotMax: number;
  readonly blockSize: number;
  readonly blockConcurrency: number;
  readonly signal?: AbortSignal;
  readonly onBytes?: (n: number) => void;
  /** Conditions on the step that makes the blob appear (Put Blob, Put Block List, Copy Blob).
   *  @default none: overwrite whatever is there */
  readonly conditions?: WriteConditions;
  /** Told when something was left behind that a later run cleans up (a scratch blob whose delete failed). */
  readonly onWarning?: (message: string) => void;
  /** Where page and append blobs are written before they are copied into place; a shard's own prefix.
   *  @default ".dr-sync-tmp/" */
  readonly scratchPrefix?: string;
  /** The MD5s of the ranges the staged bytes were received in: a block blob then goes in blocks of those ranges
   *  with those MD5s, and is not hashed again (`blocksOf`). Read only when the blob goes in blocks, so most
   *  uploads (small blobs, one Put Blob) never look them up. @default none: the file is hashed as it is read */
  readonly rangeMd5s?: () => RangeMd5s | undefined;
  /** Blocks already at the destination, sent while the blob downloaded (blocks-ahead.ts): committed, not sent again.
   *  @default none */
  readonly blocksAhead?: Pick<BlocksAhead, "stagedId">;
}

/** Writes a staged blob of any type to `container` at `site`; returns the new ETag. */
export async function uploadEntry(site: SiteClient, container: string, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  return missingIsDamaged(path, () => uploadStaged(site, container, entry, path, opts));
}

/**
 * Refuses a staged copy that is gone or whose bytes are not those received, before anything at the destination is
 * given up for it (a blob of another type there is deleted before the write: the service turns no type into another).
 */
export async function checkStagedCopy(entry: StagedEntry, path: string): Promise<void> {
  const problem = await stagedCopyProblem(entry, path);
  if (problem) throw new StagedCopyDamagedError(`staged copy is damaged: ${problem}; it was dropped from staging and the next pull re-fetches it`);
}

/** What is wrong with a file that should hold `entry`'s bytes (a staged or a retained copy), or undefined. */
export async function stagedCopyProblem(entry: StagedEntry, path: string): Promise<string | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return `${path} is missing`;
    throw err;
  }
  if (size !== entry.size) return `${size} bytes, the source had ${entry.size}`;
  const want = expectedMd5(entry);
  const md5 = want ? await md5OfStaged(path, entry.stagedMd5 ? entry.pageRanges : undefined) : undefined;
  return md5 !== want ? `its MD5 is ${md5}, it was ${want} when received` : undefined;
}

/**
 * A staged data file removed by hand or lost with the disk is a damaged copy: dropped, so the next pull re-fetches
 * it, instead of failing its push on every run while its deletions at the target wait for it.
 */
async function missingIsDamaged<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && (err as NodeJS.ErrnoException).path === path) {
      throw new StagedCopyDamagedError(`staged copy is missing from the staging disk (${path}); it was dropped from staging and the next pull re-fetches it`);
    }
    throw err;
  }
}

async function uploadStaged(site: SiteClient, container: string, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  let etag: string;
  if (entry.kind === "BlockBlob") etag = await uploadFromFile(site.blob(container, entry.name), entry, path, opts);
  else {
    await verifyStaged(entry, path);
    etag = await uploadViaScratch(site, container, entry, path, opts);
  }
  if (entry.props.contentType === "") {
    // Every write stores application/octet-stream for an empty Content-Type; only Set Blob Properties keeps it empty.
    const res = await site.blob(container, entry.name).setHTTPHeaders(headersOf(entry), { conditions: { ifMatch: etag }, abortSignal: opts.signal });
    etag = normalizeEtag(res.etag);
  }
  return etag;
}

/** Blobs up to this size are uploaded from memory. */
const BUFFERED_MAX = 4 * 1024 * 1024;

/**
 * Whether a block blob of this size and stored Content-MD5 goes to the destination as blocks and a block list (as
 * `uploadFromFile` writes it) rather than one Put Blob, taking its stored MD5 to be current.
 */
export function sendsInBlocks(size: number, contentMD5: string | undefined, singleShotMax: number): boolean {
  return !contentMD5 || size > Math.max(BUFFERED_MAX, singleShotMax);
}

/** The staged bytes no longer match the source version they were copied from (disk damage, tampering). */
export class StagedCopyDamagedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StagedCopyDamagedError";
  }
}

/**
 * The hash a staged copy must have: the one taken when it was received, or (copies kept before that was recorded)
 * a block blob's stored Content-MD5; a page or append blob's says nothing of its bytes.
 */
function expectedMd5(entry: StagedEntry): string | undefined {
  return entry.stagedMd5 ?? storedMd5(entry);
}

function checkMd5(entry: StagedEntry, md5: string): void {
  const want = expectedMd5(entry);
  if (want && md5 !== want) {
    throw new StagedCopyDamagedError(`staged copy is damaged: its MD5 is ${md5}, it was ${want} when received; it was dropped from staging and the next pull re-fetches it`);
  }
}

function checkSize(entry: StagedEntry, size: number): void {
  if (size !== entry.size) throw new StagedCopyDamagedError(`staged copy is damaged: ${size} bytes, the source had ${entry.size}; it was dropped from staging and the next pull re-fetches it`);
}

/** Refuses a staged file whose bytes are not those received from the source. */
export async function verifyStaged(entry: StagedEntry, path: string): Promise<void> {
  if (expectedMd5(entry)) checkMd5(entry, await md5OfStaged(path, entry.stagedMd5 ? entry.pageRanges : undefined));
}

/**
 * True when the source's stored Content-MD5 is not the MD5 of its bytes: replicated as it is, which only a block
 * list can carry (the service checks a Put Blob's x-ms-blob-content-md5 against the body).
 */
export function storedMd5IsStale(entry: StagedEntry): boolean {
  return !!entry.props.contentMD5 && !!entry.stagedMd5 && entry.props.contentMD5 !== entry.stagedMd5;
}

/**
 * The source's properties as upload headers, Content-MD5 included. An empty Content-Type is sent as empty, not
 * left out: left out, the service would store application/octet-stream.
 */
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
 * never see a half-written blob; that step carries `conditions`, so a blob changed at the destination since it
 * was listed is never overwritten unseen (412). The staged bytes are checked against the MD5 taken when they
 * were received, and every block travels with its own MD5, which the service checks.
 */
export async function uploadFromFile(client: BlockBlobClient, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  const common = { blobHTTPHeaders: headersOf(entry), metadata: { ...entry.metadata }, abortSignal: opts.signal, conditions: opts.conditions };
  // Put Blob makes the service compute a Content-MD5, and checks one we send; a source blob without one, or with a
  // stale one, must arrive as it is, so it goes as blocks (a block list gets no computed or checked MD5).
  const singleShot = !!entry.props.contentMD5 && !storedMd5IsStale(entry);
  try {
    if (singleShot && entry.size <= BUFFERED_MAX) {
      // Small blobs are read once into memory: one read serves both the integrity check and the upload.
      const body = entry.size === 0 ? Buffer.alloc(0) : await readFile(path);
      checkSize(entry, body.length);
      checkMd5(entry, createHash("md5").update(body).digest("base64"));
      const res = await client.upload(body, entry.size, common);
      opts.onBytes?.(entry.size);
      return normalizeEtag(res.etag);
    }
    if (singleShot && entry.size <= opts.singleShotMax) {
      await verifyStaged(entry, path);
      const res = await client.upload(() => createReadStream(path), entry.size, common);
      opts.onBytes?.(entry.size);
      return normalizeEtag(res.etag);
    }
  } catch (err) {
    // A name that holds only uncommitted blocks (an upload in blocks cut off, by a kill or a failed run) is a blob
    // to Azurite's create-only Put Blob, not to a block list: when no blob can be read there, the write goes in
    // blocks instead, whose create-only commit still refuses a blob that really appeared.
    if (!(opts.conditions?.ifNoneMatch === "*" && errorCodeOf(err) === "BlobAlreadyExists") || await client.exists({ abortSignal: opts.signal })) throw err;
  }
  checkSize(entry, (await stat(path)).size);
  const { blockSize, blocks, received } = await blocksOf(entry, path, opts);
  const count = blocks.length;
  // Block IDs must all have the same length; a fixed-width counter gives that, and a retry reuses them harmlessly.
  // A block sent ahead keeps its own ID (only ranges the blocks were made of: received MD5s).
  const ahead = received ? opts.blocksAhead : undefined;
  const ids = Array.from({ length: count }, (_, i) => ahead?.stagedId(i, blocks[i]) ?? blockId("drsync-", i));
  await forEachLimited(ids, opts.blockConcurrency, async (id, i) => {
    const start = i * blockSize;
    const len = Math.min(blockSize, entry.size - start);
    if (ahead?.stagedId(i, blocks[i]) === id) {
      opts.onBytes?.(len);
      return;
    }
    try {
      await client.stageBlock(id, () => createReadStream(path, { start, end: start + len - 1 }), len, {
        abortSignal: opts.signal, transactionalContentMD5: Buffer.from(blocks[i], "base64"),
      });
    } catch (err) {
      // The service refused the block's MD5: with MD5s taken when the bytes were received, either the bytes were
      // damaged on the way (tried again) or the staged file since (refused, as a whole-file check would have).
      if (errorCodeOf(err) === "InvalidBlobOrBlock") {
        // The service's rule that one blob's block IDs are all of one length: another writer's upload in blocks to
        // this name was cut off, and its blocks wait uncommitted (up to a week). Said plainly: the code alone reads
        // as damaged bytes. Nothing of theirs is removed here; it may be a DR-site writer's upload still going on.
        throw new Error(`the target refused block ${i} of "${entry.name}" (${describeError(err)}): most likely uncommitted blocks of another writer, with block IDs of another length, wait under this name; the service refuses ours until they are committed or expire (up to 7 days), or until a Put Blob of the name replaces them`);
      }
      if (!isMd5Refusal(err)) throw err;
      if (received && (await md5OfRange(path, start, len)) !== blocks[i]) {
        throw new StagedCopyDamagedError(`staged copy is damaged: its bytes at offset ${start} no longer have the MD5 they were received with; it was dropped from staging and the next pull re-fetches it`);
      }
      throw new IntegrityError(`block at offset ${start} arrived damaged at the target (${errorCodeOf(err) ?? "400"}: its MD5 did not match)`);
    }
    opts.onBytes?.(len);
  });
  const res = await client.commitBlockList(ids, common);
  return normalizeEtag(res.etag);
}

/** The service refused a block because its bytes did not have the MD5 sent with them (Azurite says it in words). */
function isMd5Refusal(err: unknown): boolean {
  return statusOf(err) === 400 && (errorCodeOf(err) === "Md5Mismatch" || /md5 (doesn't|does not) match/i.test((err as Error)?.message ?? ""));
}

/**
 * A block list's blocks and their MD5s. The ranges the bytes were received in, with the MD5s taken then, when
 * they were recorded for this very file and fit in a block list: the service checks each block against its MD5, so
 * every byte is still checked against what was received, without reading the file twice (a 64 MiB blob was four
 * MD5 passes, two of them here). Otherwise one read gives the check of the whole copy and every block's own MD5
 * (the page cache then serves the upload's read).
 */
async function blocksOf(entry: StagedEntry, path: string, opts: UploadOptions): Promise<{ blockSize: number; blocks: readonly string[]; received: boolean }> {
  const r = opts.rangeMd5s?.();
  if (r && r.rangeSize > 0 && r.md5s.length === Math.ceil(entry.size / r.rangeSize) && r.md5s.length <= MAX_BLOCKS) {
    return { blockSize: r.rangeSize, blocks: r.md5s, received: true };
  }
  const blockSize = blockSizeFor(entry.size, opts.blockSize);
  const { whole, blocks } = await md5OfBlocks(path, entry.size, blockSize);
  checkMd5(entry, whole);
  return { blockSize, blocks, received: false };
}
