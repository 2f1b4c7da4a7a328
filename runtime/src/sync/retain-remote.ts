import { promises as fs } from "node:fs";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { RetentionReason } from "../staging/retention";
import { isNotFound } from "../storage/errors";
import { SiteClient } from "../storage/site-client";
import { downloadToFile } from "../transfer/blob-to-file";
import { MiB, SyncContext } from "./context";

/**
 * Saves a blob of one site, one we hold no copy of, into the retention area before it is replaced or deleted: a
 * write never destroys data it cannot give back. `tmp` is a free path on the staging disk. Returns false when the
 * blob vanished first.
 */
export async function retainRemote(ctx: SyncContext, site: SiteClient, siteKey: string, container: string, blob: RemoteBlob,
  reason: RetentionReason, tmp: string): Promise<boolean> {
  let got;
  try {
    got = await downloadToFile(site.blob(container, blob.name), blob, tmp, {
      singleShotMax: ctx.config.singleShotMaxMiB * MiB, rangeSize: ctx.config.blockSizeMiB * MiB,
      rangeConcurrency: ctx.config.blockConcurrency, signal: ctx.signal,
    }, blob.kind === "PageBlob" ? site.pageBlob(container, blob.name) : undefined);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if (isNotFound(err)) return false;
    throw err;
  }
  const entry: StagedEntry = {
    name: blob.name, srcEtag: blob.etag, size: blob.size, lastModified: blob.lastModified, kind: blob.kind,
    props: blob.props, metadata: blob.metadata, dataFile: "", stagedMd5: got.md5, ...(got.pageRanges ? { pageRanges: got.pageRanges } : {}),
  };
  await ctx.retention.keepMoved(siteKey, container, entry, tmp, reason);
  ctx.events.info(site.role === "target" ? "retained.destination" : "retained.source", `kept ${site.label}'s copy of "${blob.name}" (${reason}) in the retention area`, { container, blob: blob.name });
  return true;
}
