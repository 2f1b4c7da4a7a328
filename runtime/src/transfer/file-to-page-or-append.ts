import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { normalizeEtag, StagedEntry } from "../model/blob";
import { describeError } from "../storage/errors";
import { SiteClient } from "../storage/site-client";
import { pieces } from "./blob-to-file";
import { md5OfRange } from "./file-hash";
import { headersOf, UploadOptions } from "./file-to-blob";
import { forEachLimited } from "./pool";

/**
 * Names under this prefix at a destination are dr-sync's own scratch blobs: page and append blobs are written
 * there, then copied into place in one step. Listings of the destination leave them out; a run removes any a
 * killed run left behind. Source blobs under it are refused (their names are reserved).
 */
export const SCRATCH_PREFIX = ".dr-sync-tmp/";

/** Page writes must be 512-byte aligned and at most 4 MiB; append blocks at most 4 MiB (2017-11-09 limits). */
const MAX_WRITE = 4 * 1024 * 1024;

/**
 * Writes a staged page or append blob without ever exposing a half-written blob under its real name: the bytes go
 * to a scratch blob (created with the source's properties and metadata, a stale Content-MD5 included, which these
 * types store unchecked), every write with its own MD5 for the service to check; the service then copies the
 * scratch blob over the real name (Copy Blob, same account, conditional on `opts.conditions`), and the scratch blob
 * is deleted. Returns the new ETag.
 */
export async function uploadViaScratch(site: SiteClient, container: string, entry: StagedEntry, path: string, opts: UploadOptions): Promise<string> {
  const scratch = `${opts.scratchPrefix ?? SCRATCH_PREFIX}${randomBytes(16).toString("hex")}`;
  const common = { blobHTTPHeaders: headersOf(entry), metadata: { ...entry.metadata }, abortSignal: opts.signal };
  const send = (off: number, len: number) => async () => ({ body: () => createReadStream(path, { start: off, end: off + len - 1 }), md5: Buffer.from(await md5OfRange(path, off, len), "base64") });
  try {
    if (entry.kind === "PageBlob") {
      const page = site.pageBlob(container, scratch);
      await page.create(entry.size, common);
      await forEachLimited(pieces(entry.pageRanges ?? [[0, entry.size]], MAX_WRITE), opts.blockConcurrency, async ([off, len]) => {
        const { body, md5 } = await send(off, len)();
        await page.uploadPages(body, off, len, { abortSignal: opts.signal, transactionalContentMD5: md5 });
        opts.onBytes?.(len);
      });
    } else {
      const append = site.appendBlob(container, scratch);
      await append.create(common);
      // Append blocks land in order, so they go one at a time.
      for (const [off, len] of pieces([[0, entry.size]], MAX_WRITE)) {
        const { body, md5 } = await send(off, len)();
        await append.appendBlock(body, len, { abortSignal: opts.signal, transactionalContentMD5: md5 });
        opts.onBytes?.(len);
      }
    }
    const target = site.blob(container, entry.name);
    const poller = await target.beginCopyFromURL(site.blobUrl(container, scratch), { abortSignal: opts.signal, intervalInMs: 200, conditions: opts.conditions });
    const done = await poller.pollUntilDone();
    if (done.copyStatus && done.copyStatus !== "success") throw new Error(`copy from the scratch blob ended ${done.copyStatus}`);
    // The copy's own answer names the version it made; a later read could see someone else's write.
    return normalizeEtag(done.etag ?? (await target.getProperties({ abortSignal: opts.signal })).etag);
  } finally {
    await site.blob(container, scratch).deleteIfExists().catch((err) => {
      opts.onWarning?.(`could not delete the scratch blob ${container}/${scratch} (${describeError(err)}); the next run removes it`);
    });
  }
}
