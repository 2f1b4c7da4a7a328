import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { normalizeEtag, StagedEntry } from "../model/blob";
import { SiteClient } from "../storage/site-client";
import { headersOf, UploadOptions } from "./file-to-blob";
import { forEachLimited } from "./pool";

/**
 * Names under this prefix at a destination are dr-sync's own scratch blobs: page and append blobs are written
 * there, then copied into place in one step. Listings of the destination leave them out; a run removes any a
 * killed run left behind.
 */
export const SCRATCH_PREFIX = ".dr-sync-tmp/";

/** Page writes must be 512-byte aligned and at most 4 MiB; append blocks at most 4 MiB (2017-11-09 limits). */
const MAX_WRITE = 4 * 1024 * 1024;

/**
 * Writes a staged page or append blob without ever exposing a half-written blob under its real name: the bytes go
 * to a scratch blob (created with the source's properties and metadata), which the service then copies over the
 * real name (Copy Blob, same account), and the scratch blob is deleted. Returns the new ETag.
 */
export async function uploadViaScratch(site: SiteClient, container: string, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  const scratch = `${SCRATCH_PREFIX}${randomBytes(16).toString("hex")}`;
  const common = { blobHTTPHeaders: headersOf(entry), metadata: { ...entry.metadata }, abortSignal: opts.signal };
  try {
    if (entry.kind === "PageBlob") {
      const page = site.pageBlob(container, scratch);
      await page.create(entry.size, common);
      const pieces: [number, number][] = [];
      for (const [off, len] of entry.pageRanges ?? [[0, entry.size] as const]) {
        for (let o = off; o < off + len; o += MAX_WRITE) pieces.push([o, Math.min(MAX_WRITE, off + len - o)]);
      }
      await forEachLimited(pieces, opts.blockConcurrency, async ([off, len]) => {
        await page.uploadPages(() => createReadStream(path, { start: off, end: off + len - 1 }), off, len, { abortSignal: opts.signal });
        opts.onBytes?.(len);
      });
    } else {
      const append = site.appendBlob(container, scratch);
      await append.create(common);
      // Append blocks land in order, so they go one at a time.
      for (let off = 0; off < entry.size; off += MAX_WRITE) {
        const len = Math.min(MAX_WRITE, entry.size - off);
        await append.appendBlock(() => createReadStream(path, { start: off, end: off + len - 1 }), len, { abortSignal: opts.signal });
        opts.onBytes?.(len);
      }
    }
    const poller = await site.blob(container, entry.name).beginCopyFromURL(site.blobUrl(container, scratch), { abortSignal: opts.signal, intervalInMs: 200 });
    const done = await poller.pollUntilDone();
    if (done.copyStatus && done.copyStatus !== "success") throw new Error(`copy from the scratch blob ended ${done.copyStatus}`);
    const props = await site.blob(container, entry.name).getProperties({ abortSignal: opts.signal });
    return normalizeEtag(props.etag);
  } finally {
    await site.blob(container, scratch).deleteIfExists().catch(() => undefined);
  }
}
