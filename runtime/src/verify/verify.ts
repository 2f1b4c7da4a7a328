import { createHash } from "node:crypto";
import { listBlobs } from "../listing/blob-lister";
import { describePropDifferences, RemoteBlob } from "../model/blob";
import { describeError } from "../storage/errors";
import { forEachLimited } from "../transfer/pool";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { SyncContext } from "../sync/context";
import { refusalOf } from "../sync/name-rules";
import { PushRecords } from "../state/push-records";
import { join } from "node:path";
import { containerPart, ownedContainers } from "../shard/part";

export interface Difference {
  readonly container: string;
  readonly name: string;
  readonly problem: string;
}

export interface VerifyResult {
  readonly containers: { container: string; source: number; target: number; compared: number; differences: number }[];
  readonly differences: Difference[];
  readonly ok: boolean;
}

/**
 * Compares the target with the source, blob by blob: names, sizes, Content-MD5, properties and metadata; with
 * `deep`, also the bytes (SHA-256 of both, streamed). Read-only on both sides, so it needs no lock. With a shard
 * (`verify --shard i/N`), only that shard's part of each container, on both sides.
 */
export async function verifySites(ctx: SyncContext, opts: { deep?: boolean } = {}): Promise<VerifyResult> {
  const differences: Difference[] = [];
  const containers: VerifyResult["containers"] = [];
  for (const container of ownedContainers(ctx.config.containers, ctx.shard)) {
    const part = containerPart(ctx.shard, container);
    const src = new Map<string, RemoteBlob>();
    const add = (d: Difference) => differences.push(d);
    try {
      for await (const b of listBlobs(ctx.src.container(container), container, { side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, missing: "error", signal: ctx.signal, part })) {
        src.set(b.name, b);
      }
    } catch (err) {
      add({ container, name: "", problem: `source not readable: ${(err as Error).message}` });
      containers.push({ container, source: 0, target: 0, compared: 0, differences: 1 });
      continue;
    }
    // What the last push wrote, when this machine pushed: a target ETag other than it is a change made behind our
    // back, even where listings cannot show one (page writes keep size and stored Content-MD5).
    const opened = await PushRecords.readOnly(join(ctx.config.stagingDir, ctx.srcKey, container), ctx.dstKey);
    const records = opened?.records;
    let targetCount = 0;
    let compared = 0;
    const before = differences.length;
    const deepPairs: [RemoteBlob, RemoteBlob][] = [];
    let missingContainer = false;
    try {
      for await (const t of listBlobs(ctx.dst.container(container), container, {
        side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, missing: "empty", signal: ctx.signal, part,
        onMissing: () => { missingContainer = true; },
      })) {
        if (t.name.startsWith(SCRATCH_PREFIX)) {
          add({ container, name: t.name, problem: "scratch blob left at the target (a run in progress, or a delete that failed); the next run removes it" });
          continue;
        }
        targetCount++;
        const s = src.get(t.name);
        if (!s) {
          add({ container, name: t.name, problem: "only at target" });
          continue;
        }
        src.delete(t.name);
        compared++;
        const problems = compareBlobs(s, t);
        const rec = records?.get(t.name);
        if (rec && rec.srcEtag === s.etag && rec.dstEtag !== t.etag) problems.push("changed at the target since dr-sync wrote it (ETag); the next run replaces it and keeps the changed version");
        for (const p of problems) add({ container, name: t.name, problem: p });
        if (opts.deep && problems.length === 0) deepPairs.push([s, t]);
      }
    } catch (err) {
      add({ container, name: "", problem: `target not readable: ${(err as Error).message}` });
    } finally {
      opened?.close();
    }
    if (missingContainer && src.size > 0) add({ container, name: "", problem: "container missing at target" });
    for (const name of src.keys()) {
      const refusal = refusalOf(name, ctx.config.target.cloud);
      add({ container, name, problem: refusal ? `cannot be replicated: ${refusal}` : "missing at target" });
    }
    const sourceCount = compared + src.size;
    await forEachLimited(deepPairs, ctx.config.transferConcurrency, async ([s, t]) => {
      try {
        const [a, b] = await Promise.all([sha256Of(ctx, "src", container, s), sha256Of(ctx, "dst", container, t)]);
        if (a !== b) add({ container, name: s.name, problem: `bytes differ (SHA-256 ${a.slice(0, 12)}… at source, ${b.slice(0, 12)}… at target)` });
      } catch (err) {
        add({ container, name: s.name, problem: `could not read for byte comparison: ${describeError(err)}` });
      }
    });
    containers.push({ container, source: sourceCount, target: targetCount, compared, differences: differences.length - before });
  }
  return { containers, differences, ok: differences.length === 0 };
}

/** Differences between a source blob and its target copy, as phrases; empty when they match. */
export function compareBlobs(s: RemoteBlob, t: RemoteBlob): string[] {
  const out: string[] = [];
  if (s.kind !== t.kind) out.push(`blob type ${s.kind} at source, ${t.kind} at target`);
  if (s.size !== t.size) out.push(`size ${s.size} at source, ${t.size} at target`);
  out.push(...describePropDifferences(s, t).map((d) => `${d} (source != target)`));
  return out;
}

async function sha256Of(ctx: SyncContext, side: "src" | "dst", container: string, blob: RemoteBlob): Promise<string> {
  const client = (side === "src" ? ctx.src : ctx.dst).blob(container, blob.name);
  const h = createHash("sha256");
  if (blob.size === 0) return h.digest("hex");
  const res = await client.download(0, undefined, { conditions: { ifMatch: blob.etag }, abortSignal: ctx.signal, maxRetryRequests: 3 });
  for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest("hex");
}
