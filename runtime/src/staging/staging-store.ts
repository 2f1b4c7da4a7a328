import { promises as fs, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { RangeMd5s, StagedEntry } from "../model/blob";
import { IndexOptions, StagedEntryWithRecord, StagingIndex } from "../index/staging-index";
import { killPoint } from "../index/kill-point";
import { ensurePrivateDir, exists } from "./atomic-file";
import { dataFileName, objectStem } from "./object-path";
import { RetentionArea, RetentionReason } from "./retention";
import { clearPullMark } from "./pull-mark";
import { migrateLegacyFolder } from "./legacy-migration";
import { noteUnstaged } from "../state/push-records";

export const INDEX_FILE = "index.db";
const DIRTY_FILE = "dirty";

/**
 * The staged copy of one source container: `<stagingDir>/<site>/<container>/`, its entries in `index.db` (a
 * StagingIndex) and each source version's bytes in `objects/ab/<key>.<gen>.bin`.
 *
 * Commit order (docs/engine.md): the bytes are renamed into `objects/`, then the entry row is written (batched),
 * and only once that row is committed is the superseded data file removed (its copy was linked into the
 * retention area before the row). A kill at any moment leaves every committed row pointing at its bytes; the
 * data files no committed row points to are swept on the next open, which a `dirty` marker asks for.
 */
export class StagingStore {
  readonly dir: string;
  readonly tmpDir: string;
  /** Shard folders known to exist, so a commit makes no mkdir call for them (at most 256). */
  private readonly shards = new Set<string>();
  /** True once the dirty marker is on disk for this process's changes. */
  private dirty = false;

  private constructor(stagingDir: string, readonly site: string, readonly container: string, private readonly retention: RetentionArea,
    private readonly index: StagingIndex, private readonly planning = false) {
    this.dir = join(stagingDir, site, container);
    this.tmpDir = join(stagingDir, site, ".tmp", container);
  }

  /**
   * Opens (and if needed creates, migrates or repairs) the staged copy of a container. A folder made by the
   * version before the index is migrated first (docs/engine.md); an index that is not ours is refused, untouched.
   */
  static async open(stagingDir: string, site: string, container: string, retention: RetentionArea, options: IndexOptions = {}): Promise<StagingStore> {
    const dir = join(stagingDir, site, container);
    await ensurePrivateDir(join(dir, "objects"));
    const tmpDir = join(stagingDir, site, ".tmp", container);
    // Files in tmp belong to transfers that never committed; the lock guarantees no one else is writing them.
    await fs.rm(tmpDir, { recursive: true, force: true });
    await ensurePrivateDir(tmpDir);
    await migrateLegacyFolder(dir, INDEX_FILE, options);
    const store = new StagingStore(stagingDir, site, container, retention, StagingIndex.open(join(dir, INDEX_FILE), options));
    if (await exists(join(dir, DIRTY_FILE))) {
      store.dirty = true;
      store.sweepUnreferencedData();
    }
    return store;
  }

  /**
   * This store as `plan` sees it: the same index, in a scratch transaction (`StagingIndex.beginScratch`) that the
   * view's `close()` undoes, so the pull's planned changes are there for the push to be planned on and never reach
   * staging. Until then this store itself must not be written: its writes would be undone with the plan's. No data
   * file is written or removed through the view.
   */
  planView(): StagingStore {
    this.index.beginScratch();
    return new StagingStore(join(this.dir, "..", ".."), this.site, this.container, this.retention, this.index, true);
  }

  /** The staged entry of one name, if any. */
  get(name: string): StagedEntry | undefined {
    return this.index.getEntry(name);
  }

  /**
   * Every staged entry in the service's listing order: the one way the hops read staging as a whole. With
   * `withRecordsFor` (a target site's key), each entry carries its push record for that target, read by a join.
   */
  entries(): Iterable<StagedEntry>;
  entries(withRecordsFor: string): Iterable<StagedEntryWithRecord>;
  entries(withRecordsFor?: string): Iterable<StagedEntryWithRecord> {
    return withRecordsFor === undefined ? this.index.entries() : this.index.entriesWithRecords(withRecordsFor);
  }

  count(): number {
    return this.index.countEntries();
  }

  /** The MD5s of the ranges an entry's data file was received in, if they were recorded with it. */
  rangeMd5s(entry: StagedEntry): RangeMd5s | undefined {
    return this.index.getRangeMd5s(entry.name, entry.dataFile);
  }

  /** Absolute path of an entry's bytes. */
  dataPath(entry: StagedEntry): string {
    return join(this.dir, objectStem(entry.name).replace(/[^/]+$/, ""), entry.dataFile);
  }

  /** A fresh path in this container's tmp folder, for a transfer in progress. */
  tmpPath(): string {
    return join(this.tmpDir, `${randomBytes(12).toString("hex")}.part`);
  }

  /** The index this store keeps its rows in, for the push records and the hops' queues beside the entries. */
  get rows(): StagingIndex {
    return this.index;
  }

  /**
   * Makes the bytes in `tmpPath` the staged version described by `entry`. The version it replaces is linked into
   * the retention area first, and its data file removed only after the new row is committed. `rangeMd5s`, when the
   * bytes came in ranges, are recorded with the row.
   */
  async commit(entry: Omit<StagedEntry, "dataFile">, tmpPath: string, rangeMd5s?: RangeMd5s): Promise<StagedEntry> {
    this.refuseInPlan("commit");
    await this.markDirty();
    const full: StagedEntry = { ...entry, dataFile: dataFileName(entry.name, entry.srcEtag) };
    await this.ensureShard(full.name);
    const old = this.index.getEntry(entry.name);
    if (old && old.dataFile !== full.dataFile) await this.keepOld(old, "overwritten by a newer source version");
    await fs.rename(tmpPath, this.dataPath(full));
    killPoint("staging.after-data-rename");
    this.index.putEntry(full);
    if (rangeMd5s) this.index.putRangeMd5s(full.name, full.dataFile, rangeMd5s);
    // Those of the version replaced would never be read again (they name its data file): gone with it.
    else if (old) this.index.deleteRangeMd5s(full.name);
    if (old && old.dataFile !== full.dataFile) this.removeDataAfterCommit(old);
    return full;
  }

  /**
   * Keeps a staged version that is about to go in the retention area. When its data file is gone there is nothing
   * of it to keep here; the targets still hold those bytes, so their push records are forgotten: a push then keeps
   * the target's copy in the retention area before it replaces or deletes it (as for a blob it did not write).
   */
  private async keepOld(old: StagedEntry, reason: RetentionReason): Promise<void> {
    if ((await this.retention.keep(this.site, this.container, old, this.dataPath(old), reason)) === undefined) this.index.deletePushRecordsOf(old.name);
  }

  /** Removes a blob from staging, keeping its last version in the retention area. */
  async remove(name: string, reason: RetentionReason = "deleted at source"): Promise<void> {
    this.refuseInPlan("remove");
    const old = this.index.getEntry(name);
    if (!old) return;
    await this.markDirty();
    await this.keepOld(old, reason);
    this.index.deleteEntry(name);
    noteUnstaged(this.index);
    this.removeDataAfterCommit(old);
  }

  /**
   * Drops a damaged staged copy without keeping it, so the next pull fetches the blob again. The pull mark goes
   * too: without the entry, staging no longer says what the source has, and a push on it must not delete (the blob
   * would look deleted at the source) or claim a recovery point.
   */
  async forget(name: string): Promise<void> {
    this.refuseInPlan("forget");
    const old = this.index.getEntry(name);
    if (!old) return;
    await clearPullMark(this.dir);
    await this.markDirty();
    this.index.deleteEntry(name);
    noteUnstaged(this.index);
    this.removeDataAfterCommit(old);
  }

  /** Commits every row written so far (and then removes the data files they superseded). */
  flush(): void {
    this.index.flush();
  }

  /** Commits, closes the index and clears the dirty marker: nothing is left for the next open to sweep. */
  async close(): Promise<void> {
    if (this.planning) {
      // The index stays open: it is the store's the view was made from, which closes it.
      this.index.endScratch();
      return;
    }
    this.index.close();
    if (this.dirty) await fs.rm(join(this.dir, DIRTY_FILE), { force: true });
    this.dirty = false;
  }

  /** The plan's view changes rows only: data files, the retention area and the markers are the real staging's. */
  private refuseInPlan(what: string): void {
    if (this.planning) throw new Error(`staging of ${this.container}: ${what} through plan's view would change staging itself`);
  }

  /** Notes, before the first change of this process, that the next open must sweep if this one never closes. */
  private async markDirty(): Promise<void> {
    if (this.dirty) return;
    await fs.writeFile(join(this.dir, DIRTY_FILE), new Date().toISOString(), { mode: 0o600 });
    this.dirty = true;
  }

  private async ensureShard(name: string): Promise<void> {
    const shard = join(this.dir, objectStem(name), "..");
    if (this.shards.has(shard)) return;
    await ensurePrivateDir(shard);
    this.shards.add(shard);
  }

  private removeDataAfterCommit(old: StagedEntry): void {
    const path = this.dataPath(old);
    this.index.afterCommit(() => {
      killPoint("staging.after-commit-before-removal");
      // A later commit in the same batch may have put that very version back.
      if (this.index.getEntry(old.name)?.dataFile !== old.dataFile) rmSync(path, { force: true });
    });
  }

  /** After a kill: removes data files no committed row points to (and files a killed atomic write left). */
  private sweepUnreferencedData(): void {
    const objects = join(this.dir, "objects");
    const shards = readdirSync(objects).filter((s) => /^[0-9a-f]{2}$/.test(s));
    const dataFiles = function* (): Generator<string> {
      for (const shard of shards) for (const f of readdirSync(join(objects, shard))) if (f.endsWith(".bin")) yield f;
    };
    for (const f of this.index.unreferencedDataFiles(dataFiles())) rmSync(join(objects, f.slice(0, 2), f), { force: true });
    for (const shard of shards) {
      for (const f of readdirSync(join(objects, shard))) if (f.endsWith(".tmp")) rmSync(join(objects, shard, f), { force: true });
    }
  }
}
