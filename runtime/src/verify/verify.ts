import { listBlobs } from "../listing/blob-lister";
import { describePropDifferences, RemoteBlob } from "../model/blob";
import { describeError } from "../storage/errors";
import { WorkPool } from "../transfer/pool";
import { sha256OfRemote } from "../transfer/remote-hash";
import { march } from "../sync/march";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { SyncContext } from "../sync/context";
import { refusalOf } from "../sync/name-rules";
import { PushRecords } from "../state/push-records";
import { join } from "node:path";
import { containerPart, ownedContainers } from "../shard/part";
import type { DifferenceSink } from "../report/verify-output";

export interface Difference {
  readonly container: string;
  readonly name: string;
  readonly problem: string;
}

/** What `verify` found, counted; the differences themselves went to the sink as they were found. */
export interface VerifySummary {
  readonly containers: { container: string; source: number; target: number; compared: number; differences: number }[];
  readonly differenceCount: number;
  readonly ok: boolean;
}

/**
 * Compares the target with the source, blob by blob: names, sizes, Content-MD5, properties and metadata; with
 * `deep`, also the bytes (SHA-256 of both, streamed). Read-only on both sides, so it needs no lock. The two listings
 * are walked in step and each difference goes to `sink` as it is found, so memory stays flat whatever the
 * container's size and however far apart the sites are. With a shard (`verify --shard i/N`), only that shard's
 * part of each container, on both sides. The sink is closed with the counts.
 */
export async function verifySites(ctx: SyncContext, sink: DifferenceSink, opts: { deep?: boolean } = {}): Promise<VerifySummary> {
  let total = 0;
  const containers: VerifySummary["containers"] = [];
  for (const container of ownedContainers(ctx.config.containers, ctx.shard)) {
    const part = containerPart(ctx.shard, container);
    let found = 0;
    const add = (d: Difference) => {
      found++;
      sink.add(d);
    };
    // What the last push wrote, when this machine pushed: a target ETag other than it is a change made behind our
    // back, even where listings cannot show one (page writes keep size and stored Content-MD5).
    const opened = await PushRecords.readOnly(join(ctx.config.stagingDir, ctx.srcKey, container), ctx.dstKey);
    const records = opened?.records;
    const counts = { source: 0, target: 0, compared: 0 };
    let missingContainer = false;
    let saidMissing = false;
    const isScratch = (name: string) => {
      if (!name.startsWith(SCRATCH_PREFIX)) return false;
      add({ container, name, problem: "scratch blob left at the target (a run in progress, or a delete that failed); the next run removes it" });
      return true;
    };
    // Byte comparisons run beside the walk, a bounded number at a time: nothing per blob is held for later.
    const deep = new WorkPool<[RemoteBlob, RemoteBlob]>(ctx.config.transferConcurrency, async ([s, t]) => {
      try {
        const [a, b] = await Promise.all([sha256Of(ctx, "src", container, s), sha256Of(ctx, "dst", container, t)]);
        if (a !== b) add({ container, name: s.name, problem: `bytes differ (SHA-256 ${a.slice(0, 12)}… at source, ${b.slice(0, 12)}… at target)` });
      } catch (err) {
        add({ container, name: s.name, problem: `could not read for byte comparison: ${describeError(err)}` });
      }
    });
    const source = sideListing("source", listBlobs(ctx.src.container(container), container, {
      side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, missing: "error", signal: ctx.signal, part,
    }));
    const target = sideListing("target", listBlobs(ctx.dst.container(container), container, {
      side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, missing: "empty", signal: ctx.signal, part,
      onMissing: () => { missingContainer = true; },
    }));
    // Both listings walked in step in the service's order (the marcher): memory does not grow with the container.
    try {
      const missing = (s: RemoteBlob) => {
        // Said once, before the container's first missing blob, when the listing found no container at the target.
        if (missingContainer && !saidMissing) {
          saidMissing = true;
          add({ container, name: "", problem: "container missing at target" });
        }
        counts.source++;
        const refusal = refusalOf(s.name, ctx.config.target.cloud);
        add({ container, name: s.name, problem: refusal ? `cannot be replicated: ${refusal}` : "missing at target" });
      };
      await march(source, target, {
        srcOnly: missing,
        dstOnly: (t) => {
          if (isScratch(t.name)) return;
          counts.target++;
          add({ container, name: t.name, problem: "only at target" });
        },
        match: (s, t): void | Promise<void> => {
          // A source blob under the scratch prefix is refused by name; the target's is a run's scratch copy.
          if (isScratch(t.name)) return missing(s);
          counts.source++;
          counts.target++;
          counts.compared++;
          const problems = compareBlobs(s, t);
          const rec = records?.get(t.name);
          if (rec && rec.srcEtag === s.etag && rec.dstEtag !== t.etag) problems.push("changed at the target since dr-sync wrote it (ETag); the next run replaces it and keeps the changed version");
          for (const p of problems) add({ container, name: t.name, problem: p });
          return opts.deep && problems.length === 0 ? deep.add([s, t]) : undefined;
        },
      });
    } catch (err) {
      add({ container, name: "", problem: err instanceof SideListingError ? `${err.side} not readable: ${err.message}` : `listings not comparable: ${describeError(err)}` });
    } finally {
      await deep.drain();
      opened?.close();
    }
    containers.push({ container, source: counts.source, target: counts.target, compared: counts.compared, differences: found });
    total += found;
  }
  const summary = { containers, differenceCount: total, ok: total === 0 };
  sink.close(summary);
  return summary;
}

/** A listing that failed, with the side it belongs to (the marcher reads both at once). */
class SideListingError extends Error {
  constructor(readonly side: "source" | "target", cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

async function* sideListing(side: "source" | "target", listing: AsyncIterable<RemoteBlob>): AsyncGenerator<RemoteBlob> {
  try {
    yield* listing;
  } catch (err) {
    throw new SideListingError(side, err);
  }
}

/** Differences between a source blob and its target copy, as phrases; empty when they match. */
export function compareBlobs(s: RemoteBlob, t: RemoteBlob): string[] {
  const out: string[] = [];
  if (s.kind !== t.kind) out.push(`blob type ${s.kind} at source, ${t.kind} at target`);
  if (s.size !== t.size) out.push(`size ${s.size} at source, ${t.size} at target`);
  out.push(...describePropDifferences(s, t).map((d) => `${d} (source != target)`));
  return out;
}

function sha256Of(ctx: SyncContext, side: "src" | "dst", container: string, blob: RemoteBlob): Promise<string> {
  return sha256OfRemote((side === "src" ? ctx.src : ctx.dst).blob(container, blob.name), blob.etag, blob.size, ctx.signal);
}
