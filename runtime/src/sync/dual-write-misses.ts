import { promises as fs } from "node:fs";
import { join } from "node:path";
import { listBlobs, listOne } from "../listing/blob-lister";
import { PushRecords } from "../state/push-records";
import { writeFileAtomic } from "../staging/atomic-file";
import { StagingStore } from "../staging/staging-store";
import { describeError, isAuthFailure, isNotFound } from "../storage/errors";
import { forEachLimited } from "../transfer/pool";
import { newHopStats, SyncContext } from "./context";
import { decidePull, decidePush } from "./decide";
import { applyGuards } from "./guards";
import { fetchOne } from "./pull";
import { pushOne } from "./push";
import { containerPart, ownsName } from "../shard/part";
import { noteAdded, noteWrittenAhead, STAGED_NEW } from "./added-names";

/** Where applications using the client in best-effort mode journal the writes they could not make at both sites. */
export const MISSES_PREFIX = "dual-write-misses/";

/** What the journal at the reading site names since the last run, by container. */
export interface JournaledMisses {
  readonly byContainer: Map<string, Set<string>>;
  /** Records how far each journal blob has been read; called once the run has used them. */
  commit(): Promise<void>;
}

/** One line of the journal (format 1, docs/applications.md). */
interface MissLine {
  readonly v: number;
  readonly container?: string;
  readonly blob?: string;
}

/** Journal blobs older than this are no longer read: the ordinary cycles have long replicated what they name. */
const MAX_AGE_DAYS = 7;

/**
 * Reads the dual-write miss journal (`<statusContainer>/dual-write-misses/<hour>.jsonl`, append blobs at the
 * reading site, written by `stackhub-dr/client`) from where the last run stopped, kept in `<stateDir>/dual-write-misses.json`.
 * The source's SAS only reads, so the journal is never changed; a journal that cannot be read is a warning.
 */
export async function readMisses(ctx: SyncContext): Promise<JournaledMisses> {
  const byContainer = new Map<string, Set<string>>();
  const container = ctx.config.statusContainer;
  const cursorFile = join(ctx.config.stateDir, "dual-write-misses.json");
  let cursor: Record<string, number> = {};
  try {
    cursor = JSON.parse(await fs.readFile(cursorFile, "utf8"));
  } catch {
    // First run, or a new VM: every journal blob is read from its start.
  }
  const next: Record<string, number> = {};
  if (!container) return { byContainer, commit: async () => undefined };
  const oldest = new Date(Date.now() - MAX_AGE_DAYS * 86400000).toISOString().slice(0, 13);
  try {
    for await (const b of listBlobs(ctx.src.container(container), container, {
      side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, missing: "empty", prefix: MISSES_PREFIX, signal: ctx.signal,
    })) {
      const hour = b.name.slice(MISSES_PREFIX.length, MISSES_PREFIX.length + 13);
      if (hour < oldest) continue;
      const from = cursor[b.name] ?? 0;
      next[b.name] = from;
      if (b.size <= from) continue;
      const text = (await ctx.src.blob(container, b.name).downloadToBuffer(from, b.size - from, { abortSignal: ctx.signal })).toString("utf8");
      // Only whole lines count: an append still under way is read again next time from its start.
      const end = text.lastIndexOf("\n") + 1;
      for (const line of text.slice(0, end).split("\n")) {
        if (!line) continue;
        try {
          const m = JSON.parse(line) as MissLine;
          if (m.v !== 1 || !m.container || !m.blob || !ctx.config.containers.includes(m.container)) continue;
          // Each shard repairs only its own part's blobs; the journal itself is only ever read.
          if (!ownsName(containerPart(ctx.shard, m.container), m.blob)) continue;
          const names = byContainer.get(m.container) ?? new Set<string>();
          names.add(m.blob);
          byContainer.set(m.container, names);
        } catch {
          // Not a line the client wrote; the ordinary cycle replicates everything anyway.
        }
      }
      next[b.name] = from + Buffer.byteLength(text.slice(0, end));
    }
  } catch (err) {
    const why = isAuthFailure(err) || isNotFound(err) ? `the source's SAS cannot read ${container}/${MISSES_PREFIX}` : describeError(err);
    ctx.events.warn("misses.unreadable", `dual-write miss journal not read (${why}); the ordinary cycle still replicates those blobs`);
    return { byContainer: new Map(), commit: async () => undefined };
  }
  return { byContainer, commit: () => writeFileAtomic(cursorFile, JSON.stringify(next)) };
}

/** What the priority pass did for one container. */
export interface MissRepair {
  readonly journaled: number;
  readonly repaired: number;
  readonly failed: { name: string; error: string }[];
}

/**
 * Replicates the blobs the journal names before the container's ordinary cycle: each is listed at the source,
 * staged if staging lacks that version, and pushed if the target lacks it, through the same conditional writes.
 * Deletions are left to the ordinary cycle (and its delete guard); a pass that would trip the mass-change guard is
 * skipped, and the ordinary cycle's own guards decide.
 */
export async function repairMissesFirst(ctx: SyncContext, container: string, store: StagingStore, records: PushRecords, names: ReadonlySet<string>): Promise<MissRepair> {
  const failed: { name: string; error: string }[] = [];
  let repaired = 0;
  try {
    applyGuards(ctx, { hop: "push", container, where: ctx.dst.label, existing: records.count(), deletes: 0, empties: 0, overwrites: names.size }, false);
  } catch (err) {
    ctx.events.warn("misses.skipped", `${names.size} journaled miss(es) of "${container}" not repaired first: ${describeError(err)}`, { container });
    return { journaled: names.size, repaired: 0, failed };
  }
  const pullStats = newHopStats();
  const pushStats = newHopStats();
  await forEachLimited([...names], ctx.config.transferConcurrency, async (name) => {
    try {
      const src = await listOne(ctx.src.container(container), container, name, { side: ctx.src.label, sasEnv: ctx.config.source.sasEnv, missing: "error", signal: ctx.signal });
      if (!src) return;
      const before = store.get(name);
      if (decidePull(src, before).action === "copy") {
        // Added before the guards, as the pull's new names are (added-names.ts).
        if (!before) noteAdded(store.rows, STAGED_NEW, name);
        await fetchOne(ctx, container, store, src, pullStats, () => undefined);
      }
      const entry = store.get(name);
      if (!entry) return;
      const dst = await listOne(ctx.dst.container(container), container, name, { side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, missing: "empty", signal: ctx.signal });
      const d = decidePush(entry, records.get(name), dst);
      if (d.action === "adopt") records.set(name, { srcEtag: entry.srcEtag, dstEtag: dst!.etag, md5: entry.stagedMd5 ?? entry.props.contentMD5 });
      else if (d.action === "copy") {
        if (!dst) {
          noteWrittenAhead(store.rows, records.target, name);
          store.flush();
        }
        await pushOne(ctx, container, store, records, { entry, dst }, pushStats, () => undefined);
      }
      repaired++;
    } catch (err) {
      failed.push({ name, error: describeError(err) });
    }
  });
  store.flush();
  ctx.events.info("misses.repaired", `repaired ${repaired} of ${names.size} journaled dual-write miss(es) of "${container}" first`, { container, repaired, journaled: names.size });
  return { journaled: names.size, repaired, failed };
}
