import { BlobClient } from "@azure/storage-blob";
import { isNotFound } from "../storage/errors";

/**
 * Whether a 404 of an operation on a listed blob (the copy into the target versions, whose source is that blob)
 * means the blob is gone since it was listed: asked of the service, so any other 404 (a container deleted
 * meanwhile) is never taken for it.
 */
export async function goneSinceListed(err: unknown, blob: BlobClient, signal?: AbortSignal): Promise<boolean> {
  return isNotFound(err) && !(await blob.exists({ abortSignal: signal }));
}
