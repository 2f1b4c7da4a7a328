import { createHash } from "node:crypto";
import { RemoteBlob } from "../model/blob";
import { PushRecords } from "../state/push-records";
import { forEachLimited } from "../transfer/pool";
import { HopStats, ItemAction, SyncContext } from "./context";
import type { Job } from "./push";

/**
 * Destination blobs that may already hold the staged bytes (same size, properties and metadata, no Content-MD5 on
 * either side, no push record: a target seeded by hand, dual writes, or a blob another shard wrote before N
 * changed) are hashed before the guards count anything: those that match are adopted, and only a real difference
 * counts as an overwrite. Counted up front, every such blob of a container that moved to this shard would trip
 * the mass-change guard. Returns the jobs whose bytes differ (or could not be read: they are written, conditionally,
 * like any other). Read-only at the target, so plan mode does it too, recording nothing.
 */
export async function adoptSameBytes(ctx: SyncContext, container: string, candidates: readonly Job[], records: PushRecords, stats: HopStats,
  actions: ItemAction[], dryRun: boolean): Promise<Job[]> {
  const differ: Job[] = [];
  await forEachLimited([...candidates], ctx.config.transferConcurrency, async (job) => {
    const { entry, dst } = job;
    if (dst && entry.stagedMd5 && (await md5OfRemote(ctx, container, dst).catch(() => "")) === entry.stagedMd5) {
      if (!dryRun) records.set(entry.name, { srcEtag: entry.srcEtag, dstEtag: dst.etag, md5: entry.stagedMd5 });
      actions.push({ name: entry.name, action: "adopt", reason: "destination holds the staged bytes (MD5 of its bytes compared)" });
      stats.adopted++;
      ctx.events.debug("blob.adopted", `"${entry.name}" already holds the staged bytes at ${ctx.dst.label}; adopted`, { container, blob: entry.name });
    } else differ.push({ entry, dst });
  });
  return differ;
}

/** Base64 MD5 of a destination blob's bytes, streamed, conditional on the listed version. */
async function md5OfRemote(ctx: SyncContext, container: string, blob: RemoteBlob): Promise<string> {
  const h = createHash("md5");
  if (blob.size > 0) {
    const res = await ctx.dst.blob(container, blob.name).download(0, undefined, { conditions: { ifMatch: blob.etag }, abortSignal: ctx.signal, maxRetryRequests: 3 });
    for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer>) h.update(chunk);
  }
  return h.digest("base64");
}
