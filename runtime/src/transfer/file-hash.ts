import { createHash, Hash } from "node:crypto";
import { promises as fs } from "node:fs";
import { HASH_READ_SIZE, tryHashOnWorker, WORKER_HASH_MIN_BYTES } from "./hash-worker";

/*
 * MD5s of staged files, read through one buffer per call. A read stream allocates a new buffer per chunk, and
 * those are off V8's heap: a quiet heap is not collected until about 64 MiB of them pile up, so hashing one
 * 64 MiB blob held ~64 MiB of dead buffers (peak RSS of a 2 × 64 MiB pull: 155 MiB, 71 MiB of it ArrayBuffers).
 */

/**
 * Feeds `len` bytes of an open file from `start` to every hash, in order, through `buf`; returns how many it fed,
 * fewer when the file ends first (callers that compare the digest with a known MD5 need not check).
 */
export async function feedHashes(fh: fs.FileHandle, buf: Buffer, start: number, len: number, hashes: readonly Hash[]): Promise<number> {
  let pos = start;
  const end = start + len;
  while (pos < end) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
    if (bytesRead === 0) break;
    // update() copies into the hash state at once, so the buffer can be refilled.
    for (const h of hashes) h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return pos - start;
}

async function withFile<T>(path: string, size: number, use: (fh: fs.FileHandle, buf: Buffer) => Promise<T>): Promise<T> {
  const fh = await fs.open(path, "r");
  try {
    return await use(fh, Buffer.allocUnsafeSlow(Math.max(1, Math.min(HASH_READ_SIZE, size))));
  } finally {
    await fh.close();
  }
}

/** Base64 MD5 of the given ranges of a file, in order (a page blob's written ranges; the holes are not read). */
export async function md5OfRanges(path: string, ranges: readonly (readonly [number, number])[]): Promise<string> {
  const onWorker = ranges.reduce((a, [, len]) => a + len, 0) >= WORKER_HASH_MIN_BYTES ? tryHashOnWorker({ path, ranges }) : undefined;
  if (onWorker) return (await onWorker).whole;
  const h = createHash("md5");
  const largest = ranges.reduce((a, [, len]) => Math.max(a, len), 0);
  if (largest > 0) await withFile(path, largest, async (fh, buf) => { for (const [off, len] of ranges) if (len > 0) await feedHashes(fh, buf, off, len, [h]); });
  return h.digest("base64");
}

/** Base64 MD5 of a whole file. */
export async function md5OfFile(path: string): Promise<string> {
  return md5OfRanges(path, [[0, (await fs.stat(path)).size]]);
}

/** Base64 MD5 of `len` bytes of a file from `start`. */
export async function md5OfRange(path: string, start: number, len: number): Promise<string> {
  return md5OfRanges(path, [[start, len]]);
}

/** In one read of the file: the MD5 of its first `size` bytes and of each `blockSize` block (a block list's own). */
export async function md5OfBlocks(path: string, size: number, blockSize: number): Promise<{ whole: string; blocks: string[] }> {
  const onWorker = size >= WORKER_HASH_MIN_BYTES ? tryHashOnWorker({ path, ranges: [[0, size]], blockSize }) : undefined;
  if (onWorker) return onWorker;
  const whole = createHash("md5");
  const blocks: string[] = [];
  await withFile(path, Math.min(size, blockSize), async (fh, buf) => {
    for (let start = 0; start < size; start += blockSize) {
      const block = createHash("md5");
      await feedHashes(fh, buf, start, Math.min(blockSize, size - start), [whole, block]);
      blocks.push(block.digest("base64"));
    }
  });
  return { whole: whole.digest("base64"), blocks };
}
