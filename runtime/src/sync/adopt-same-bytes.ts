import { createHash } from "node:crypto";
import { RemoteBlob } from "../model/blob";
import { PushRecords } from "../state/push-records";
import { WorkPool } from "../transfer/pool";
import { HopStats, SyncContext } from "./context";
import type { Executor } from "./executor";
import type { Job } from "./push";

/**
 * Destination blobs that may already hold the staged bytes (same size, properties and metadata, no Content-MD5 on
 * either side, no push record: a target seeded by hand, dual writes, or a blob another shard wrote before N
 * changed) are hashed before the guards count anything: those that match are adopted, and only a real difference
 * counts as an overwrite. Counted up front, every such blob of a container that moved to this shard would trip
 * the mass-change guard. Returns the jobs whose bytes differ (or could not be read: they are written, conditionally,
 * like any other), through `differs`. Read-only at the target, so plan mode does it too; the executor records the
 * adoption (a plan records nothing).
 */
export async function adoptSameBytes(ctx: SyncContext, container: string, candidates: Iterable<Job>, records: PushRecords, exec: Executor, stats: HopStats,
  differs: (job: Job) => void): Promise<void> {
  const pool = new WorkPool<Job>(ctx.config.transferConcurrency, async (job) => {
    const { entry, dst } = job;
    if (dst && entry.stagedMd5 && (await md5OfRemote(ctx, container, dst).catch(() => "")) === entry.stagedMd5) {
      exec.report("push", { name: entry.name, action: "adopt", reason: "destination holds the staged bytes (MD5 of its bytes compared)" });
      exec.adopt(records, entry, dst);
      stats.adopted++;
      ctx.events.debug("blob.adopted", `"${entry.name}" already holds the staged bytes at ${ctx.dst.label}; adopted`, { container, blob: entry.name });
    } else differs(job);
  });
  for (const job of candidates) await pool.add(job);
  await pool.drain();
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
