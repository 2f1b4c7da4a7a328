import { createHash } from "node:crypto";
import { hashRemote } from "../transfer/remote-hash";
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
    if (dst && entry.stagedMd5 && (await md5OfRemote(ctx, container, dst, entry.pageRanges).catch(() => "")) === entry.stagedMd5) {
      exec.report("push", { name: entry.name, action: "adopt", reason: "destination holds the staged bytes (MD5 of its bytes compared)" });
      exec.adopt(records, entry, dst);
      stats.adopted++;
      ctx.events.debug("blob.adopted", `"${entry.name}" already holds the staged bytes at ${ctx.dst.label}; adopted`, { container, blob: entry.name });
    } else differs(job);
  });
  for (const job of candidates) await pool.add(job);
  await pool.drain();
}

/**
 * Base64 MD5 of a destination blob's bytes as the staged MD5 is taken: of the whole blob, or for a page blob of its
 * written pages in order (never its holes: a VM disk is mostly holes). A page blob whose written pages are not the
 * staged ones is not the same copy: "" then. Streamed, conditional on the listed version.
 */
async function md5OfRemote(ctx: SyncContext, container: string, blob: RemoteBlob, stagedRanges?: readonly (readonly [number, number])[]): Promise<string> {
  const conditions = { ifMatch: blob.etag };
  let ranges: [number, number][] = blob.size > 0 ? [[0, blob.size]] : [];
  if (blob.kind === "PageBlob") {
    if (!stagedRanges) return "";
    const res = await ctx.dst.pageBlob(container, blob.name).getPageRanges(0, blob.size, { conditions, abortSignal: ctx.signal });
    // The SDK's count is one byte short of the page-aligned length (see blob-to-file).
    ranges = mergeRanges((res.pageRange ?? []).map((r) => [r.offset, Math.ceil((r.count ?? 0) / 512) * 512]));
    if (JSON.stringify(ranges) !== JSON.stringify(mergeRanges(stagedRanges))) return "";
  }
  return (await hashRemote(ctx.dst.blob(container, blob.name), blob.etag, createHash("md5"), ranges, ctx.signal)).digest("base64");
}

/** Byte ranges (offset, length) sorted, empty ones dropped, adjacent or overlapping ones joined: the same written
 *  bytes however a service happens to split them. */
export function mergeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  for (const [off, len] of [...ranges].filter(([, l]) => l > 0).sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last && off <= last[0] + last[1]) last[1] = Math.max(last[1], off + len - last[0]);
    else out.push([off, len]);
  }
  return out;
}
