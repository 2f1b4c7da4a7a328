import { createHash } from "node:crypto";
import { BlobClient } from "@azure/storage-blob";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { md5OfRange } from "../transfer/file-hash";
import { WorkPool } from "../transfer/pool";
import { SyncContext } from "./context";

/** How much of a grown append blob's old end is compared: one ranged read, whatever the blob's size. */
export const APPEND_TAIL_COMPARED = 4 * 1024 * 1024;

/*
 * An append blob changes in two ways only: appended to (bytes added after its end), or re-created (deleted or
 * overwritten by Put Blob, then appended to). The mass-change guard must count the second and not the first, or a
 * container of more than a few busy logs stops at it every cycle. A blob that grew was appended to when the last
 * bytes of its old length still read the same; a re-creation that wrote back those very bytes and more amounts to
 * an append. Any failure to tell (a read that fails, an unreadable staged file, a cancelled run) answers false:
 * counted as an overwrite.
 */

/** Pull: whether a source append blob that grew since it was staged was appended to. */
export function appendedSinceStaged(ctx: SyncContext, container: string, blob: RemoteBlob, staged: StagedEntry, stagedPath: string): Promise<boolean> {
  if (blob.kind !== "AppendBlob" || staged.kind !== "AppendBlob" || blob.size <= staged.size) return Promise.resolve(false);
  // The staged file is the old version: the source's bytes up to its length must be its bytes.
  return oldEndReadsAsStaged(ctx.src.blob(container, blob.name), staged.size, stagedPath, ctx.signal);
}

/** Push: whether the staged append blob extends the version at the destination (which a push of ours wrote). */
export function appendedSincePushed(ctx: SyncContext, container: string, staged: StagedEntry, dst: RemoteBlob, stagedPath: string): Promise<boolean> {
  if (staged.kind !== "AppendBlob" || dst.kind !== "AppendBlob" || staged.size <= dst.size) return Promise.resolve(false);
  // The staged file is the new version: its bytes up to the destination's length must be the destination's.
  return oldEndReadsAsStaged(ctx.dst.blob(container, dst.name), dst.size, stagedPath, ctx.signal);
}

/** Whether the last bytes (at most APPEND_TAIL_COMPARED) of a blob's first `oldSize` bytes are the staged file's. */
async function oldEndReadsAsStaged(client: BlobClient, oldSize: number, stagedPath: string, signal: AbortSignal): Promise<boolean> {
  if (oldSize === 0) return true;
  const count = Math.min(APPEND_TAIL_COMPARED, oldSize);
  const offset = oldSize - count;
  try {
    // No ETag condition: a busy log is appended to while it is read, and appends never touch these bytes.
    const res = await client.download(offset, count, { abortSignal: signal, maxRetryRequests: 3 });
    const h = createHash("md5");
    let read = 0;
    for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) {
      h.update(chunk);
      read += chunk.length;
    }
    return read === count && h.digest("base64") === await md5OfRange(stagedPath, offset, count);
  } catch {
    // Never thrown: a pool's worker owns its errors, and a cancelled run stops at its next step anyway.
    return false;
  }
}

/**
 * Runs `appended` on each grown append blob, a few at once, then `after` on it; returns how many were not appended
 * to (re-created): the overwrites the hop's guards count.
 */
export async function countRecreated<T>(concurrency: number, grown: Iterable<T>, appended: (item: T) => Promise<boolean>,
  after: (item: T) => void = () => undefined): Promise<number> {
  let recreated = 0;
  const pool = new WorkPool<T>(concurrency, async (item) => {
    if (!(await appended(item))) recreated++;
    after(item);
  });
  for (const item of grown) await pool.add(item);
  await pool.drain();
  return recreated;
}
