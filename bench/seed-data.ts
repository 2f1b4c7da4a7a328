import { ContainerClient } from "@azure/storage-blob";
import { blobBody, BlobSpec } from "./workload";

/** Uploads blobs (bytes, content type, metadata) with a few requests in flight. */
export async function uploadBlobs(cc: ContainerClient, blobs: readonly BlobSpec[], concurrency = 16): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < blobs.length) {
      const spec = blobs[next++];
      const body = blobBody(spec);
      const opts = { blobHTTPHeaders: { blobContentType: spec.contentType }, metadata: { ...spec.metadata } };
      const client = cc.getBlockBlobClient(spec.name);
      // Large blobs go up in blocks, as real writers send them; a single Put Blob over 256 MiB is refused anyway.
      if (spec.size > 8 * 1024 * 1024) await client.uploadData(body, { ...opts, blockSize: 8 * 1024 * 1024, concurrency: 4 });
      else await client.upload(body, body.length, opts);
    }
  }));
}

export async function deleteBlobs(cc: ContainerClient, names: readonly string[], concurrency = 16): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < names.length) await cc.deleteBlob(names[next++]);
  }));
}
