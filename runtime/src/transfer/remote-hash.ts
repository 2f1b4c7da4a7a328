import { createHash, Hash } from "node:crypto";
import { BlobClient } from "@azure/storage-blob";

/**
 * Feeds a blob's bytes into `hash`, streamed, conditional on the version listed (`etag`): the whole blob, or only
 * the given (offset, length) ranges in order. Nothing of the blob is held in memory.
 */
export async function hashRemote(client: BlobClient, etag: string, hash: Hash, ranges: readonly (readonly [number, number])[], signal?: AbortSignal): Promise<Hash> {
  for (const [offset, count] of ranges) {
    if (count === 0) continue;
    const res = await client.download(offset, count, { conditions: { ifMatch: etag }, abortSignal: signal, maxRetryRequests: 3 });
    for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) hash.update(chunk);
  }
  return hash;
}

/** The hex SHA-256 of a whole blob's bytes (see `hashRemote`). */
export async function sha256OfRemote(client: BlobClient, etag: string, size: number, signal?: AbortSignal): Promise<string> {
  return (await hashRemote(client, etag, createHash("sha256"), [[0, size]], signal)).digest("hex");
}
