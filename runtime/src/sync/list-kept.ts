import { join } from "node:path";
import { withScratchDir } from "../index/scratch-dir";
import { SortSpool } from "../index/sort-spool";
import { StagingIndex } from "../index/staging-index";
import { RetentionArea } from "../staging/retention";
import { TargetVersions } from "../versions/target-versions";
import { describeError, isStagingDiskFailure } from "../storage/errors";

/** One kept copy as `retention list` shows it: this machine's retention area, or a version at the target. */
export interface KeptCopy {
  readonly retainedAt: string;
  /** The site whose copy it is (a folder of the retention area), or `target versions (<container>)`. */
  readonly site: string;
  readonly container: string;
  readonly name: string;
  readonly size: number;
  readonly reason: string;
  /** A version at the target: its blob in the versions container. */
  readonly version?: string;
  /** A copy in the retention area: its day folder, source version and files. */
  readonly day?: string;
  readonly srcEtag?: string;
  readonly dataPath?: string;
  readonly manifestPath?: string;
}

/** Where `retention list` sends each kept copy, newest first; `close` comes once, with how many there were. */
export interface KeptSink {
  add(c: KeptCopy): void;
  close(count: number): void;
}

export interface ListKeptOptions {
  readonly stagingDir: string;
  readonly retention: RetentionArea;
  /** The target's versions container. @default none: the retention area only */
  readonly versions?: TargetVersions;
  /** The containers whose target versions are listed (the config's), or the one asked for. */
  readonly containers: readonly string[];
  /** Only copies of this container. @default all */
  readonly container?: string;
  /** Only copies of this blob. @default all */
  readonly blob?: string;
}

/** The scratch index's queue of the version blobs present. */
const PRESENT = "kept.versions";

/** The names of the version blobs that exist, for the version index's lines to be checked against. */
interface NameSet {
  clear(): void;
  add(name: string): void;
  has(name: string): boolean;
}

/**
 * Every copy kept of what replication replaced or deleted, newest first: the retention area (this machine) and the
 * target's versions (the DR site's own history). After a mass deletion that is millions of copies: they are
 * sorted on the staging disk (a sort spool) and written out one at a time, so memory stays flat. A staging disk
 * that cannot hold the sort (full, read-only: when an operator most needs this list) gets the old way, in memory,
 * with `onWarning` told why; nothing has been written to the sink then. Returns the count.
 */
export async function listKept(opts: ListKeptOptions, sink: KeptSink, onWarning: (message: string) => void = () => undefined): Promise<number> {
  let writing = false;
  try {
    return await withScratchDir(opts.stagingDir, async (dir) => {
      const byTime = SortSpool.create<KeptCopy>(join(dir, "kept.db"));
      const index = opts.versions ? StagingIndex.open(join(dir, "versions.db")) : undefined;
      try {
        const present: NameSet = {
          clear: () => index?.clearQueue(PRESENT),
          add: (name) => index?.enqueue(PRESENT, name, 1),
          has: (name) => index?.queuedItem(PRESENT, name) !== undefined,
        };
        let seq = 0;
        await collect(opts, (c) => byTime.add(newestFirstKey(c.retainedAt, seq++), c), present);
        byTime.flush();
        writing = true;
        return emit(byTime.sorted(), sink);
      } finally {
        byTime.close();
        index?.close();
      }
    });
  } catch (err) {
    // The scratch could not be made or written: the staging disk is full, read-only or failing.
    if (writing || !isStagingDiskFailure(err)) throw err;
    onWarning(`the staging disk cannot hold the sort of the kept copies (${describeError(err)}); they are sorted in memory`);
    const all: KeptCopy[] = [];
    const names = new Set<string>();
    await collect(opts, (c) => all.push(c), { clear: () => names.clear(), add: (n) => names.add(n), has: (n) => names.has(n) });
    return emit(all.sort((x, y) => newestFirstKey(x.retainedAt, 0).localeCompare(newestFirstKey(y.retainedAt, 0))), sink);
  }
}

/** Every kept copy the filters let through, in no particular order. */
async function collect(opts: ListKeptOptions, put: (c: KeptCopy) => void, present: NameSet): Promise<void> {
  for await (const { entry: _entry, ...c } of opts.retention.copies({ container: opts.container, name: opts.blob })) put(c);
  const versions = opts.versions;
  if (!versions) return;
  for (const container of opts.container ? [opts.container] : opts.containers) {
    // The version blobs that still exist, for the index lines to be checked against (in listing order).
    present.clear();
    for await (const b of versions.versionBlobs(container)) present.add(b.name);
    await versions.eachEntry(container, opts.blob ?? "", (v) => present.has(v), (e) => {
      if (opts.blob !== undefined && e.name !== opts.blob) return;
      put({ retainedAt: e.keptAt, site: `target versions (${versions.versionsContainer})`, container, name: e.name, size: e.size, reason: e.reason, version: e.version });
    });
  }
}

function emit(copies: Iterable<KeptCopy>, sink: KeptSink): number {
  let count = 0;
  for (const c of copies) {
    sink.add(c);
    count++;
  }
  sink.close(count);
  return count;
}


/** The latest time a key can stand for; later (or unreadable) times sort after every real one. */
const MAX_MS = 9_999_999_999_999;

/**
 * A key that sorts newest first (the scratch index keeps rows in key order): the time inverted, fixed width, then
 * the order the copy was found in, so copies of the same moment keep it. A time that does not parse sorts last.
 */
export function newestFirstKey(retainedAt: string, seq: number): string {
  const ms = Date.parse(retainedAt);
  const inverted = Number.isFinite(ms) && ms >= 0 && ms <= MAX_MS ? MAX_MS - ms : MAX_MS;
  return `${String(inverted).padStart(13, "0")}/${String(seq).padStart(12, "0")}`;
}
