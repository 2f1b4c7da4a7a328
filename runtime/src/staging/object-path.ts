import { createHash } from "node:crypto";

/**
 * Where a blob lives in staging. Names are never used as paths: a blob name may be `../../etc/passwd`, 1,024
 * characters long, or differ from another only by case or Unicode normalization, and a file system can hold
 * none of that safely. Each blob gets a folder-free key from the SHA-256 of its exact UTF-8 name; the name
 * itself is kept in the blob's row of the staging index. So no name can reach outside `stagingDir`, and no two names collide.
 */
export function objectKey(blobName: string): string {
  return createHash("sha256").update(blobName, "utf8").digest("hex");
}

/** Path of a blob's staging files relative to its container folder: `objects/ab/<key>`. */
export function objectStem(blobName: string): string {
  const key = objectKey(blobName);
  return `objects/${key.slice(0, 2)}/${key}`;
}

/** Data file name for one source version: the stem plus a short hash of the source ETag, so versions never overwrite each other. */
export function dataFileName(blobName: string, srcEtag: string): string {
  const gen = createHash("sha256").update(srcEtag, "utf8").digest("hex").slice(0, 16);
  return `${objectKey(blobName)}.${gen}.bin`;
}

/** A folder-safe key for a site endpoint: host and path, with everything else replaced. */
export function siteKey(blobEndpoint: string): string {
  const u = new URL(blobEndpoint);
  const raw = `${u.hostname}${u.port ? "_" + u.port : ""}${u.pathname}`.replace(/\/+$/, "");
  return raw.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, 120);
}
