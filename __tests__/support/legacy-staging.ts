// The staging writers of the version before the index (main at 991d747: runtime/src/staging/staging-store.ts and
// runtime/src/state/push-records.ts), copied as they were, so the migration test builds folders exactly as that version did.
/* eslint-disable */
import { createReadStream, createWriteStream, promises as fs, WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { PushRecord, StagedEntry } from "../../runtime/src/model/blob";
import { ensurePrivateDir, exists, writeFileAtomic } from "../../runtime/src/staging/atomic-file";
import { dataFileName, objectStem } from "../../runtime/src/staging/object-path";
import { RetentionArea, RetentionReason } from "../../runtime/src/staging/retention";
import { clearPullMark } from "../../runtime/src/staging/pull-mark";

/**
 * The staged copy of one source container: `<stagingDir>/<site>/<container>/`.
 *
 * Each blob has a manifest `objects/ab/<key>.json` (its name, source ETag, properties, metadata) and a data file
 * `objects/ab/<key>.<gen>.bin` per source version. Renaming the manifest into place is the commit: until then the
 * old version stands, so a kill at any moment leaves either the old or the new version, never a mix.
 * `index.jsonl` caches all manifests for fast start-up; while a hop runs, a `dirty` marker says the cache may be
 * behind, and the next open rebuilds it from the manifests.
 */
export class LegacyStagingStore {
  private readonly entries = new Map<string, StagedEntry>();
  /** Shard folders known to exist, so a commit makes no mkdir call for them. */
  private readonly shards = new Set<string>();
  /** True once this process changed something the index does not yet show. */
  private dirty = false;
  readonly dir: string;
  readonly tmpDir: string;

  private constructor(stagingDir: string, readonly site: string, readonly container: string, private readonly retention: RetentionArea) {
    this.dir = join(stagingDir, site, container);
    this.tmpDir = join(stagingDir, site, ".tmp", container);
  }

  /** Opens (and if needed creates or repairs) the staged copy of a container. */
  static async open(stagingDir: string, site: string, container: string, retention: RetentionArea): Promise<LegacyStagingStore> {
    const store = new LegacyStagingStore(stagingDir, site, container, retention);
    await ensurePrivateDir(join(store.dir, "objects"));
    // Files in tmp belong to transfers that never committed; the lock guarantees no one else is writing them.
    await fs.rm(store.tmpDir, { recursive: true, force: true });
    await ensurePrivateDir(store.tmpDir);
    const dirty = await exists(join(store.dir, "dirty"));
    if (dirty || !(await store.loadIndex())) {
      store.dirty = true;
      await store.rebuild();
    }
    return store;
  }

  get size(): number {
    return this.entries.size;
  }

  get(name: string): StagedEntry | undefined {
    return this.entries.get(name);
  }

  names(): IterableIterator<string> {
    return this.entries.keys();
  }

  values(): IterableIterator<StagedEntry> {
    return this.entries.values();
  }

  /** Absolute path of an entry's bytes. */
  dataPath(entry: StagedEntry): string {
    return join(this.dir, objectStem(entry.name).replace(/[^/]+$/, ""), entry.dataFile);
  }

  /** A fresh path in this container's tmp folder, for a transfer in progress. */
  tmpPath(): string {
    return join(this.tmpDir, `${randomBytes(12).toString("hex")}.part`);
  }

  /** Marks the index as possibly stale until `save()`; done before the first change, so an unchanged hop writes nothing. */
  private async markDirty(): Promise<void> {
    if (this.dirty) return;
    await fs.writeFile(join(this.dir, "dirty"), new Date().toISOString(), { mode: 0o600 });
    this.dirty = true;
  }

  /**
   * Makes the bytes in `tmpPath` the staged version described by `entry`. The version it replaces is kept in
   * the retention area first.
   */
  async commit(entry: Omit<StagedEntry, "dataFile">, tmpPath: string): Promise<StagedEntry> {
    await this.markDirty();
    const full: StagedEntry = { ...entry, dataFile: dataFileName(entry.name, entry.srcEtag) };
    const stem = join(this.dir, objectStem(entry.name));
    const shard = join(stem, "..");
    if (!this.shards.has(shard)) {
      await ensurePrivateDir(shard);
      this.shards.add(shard);
    }
    const newData = this.dataPath(full);
    await fs.rename(tmpPath, newData);
    const old = this.entries.get(entry.name);
    if (old && old.dataFile !== full.dataFile) {
      await this.retention.keep(this.site, this.container, old, this.dataPath(old), "overwritten by a newer source version");
    }
    await writeFileAtomic(`${stem}.json`, JSON.stringify(full));
    if (old && old.dataFile !== full.dataFile) await fs.rm(this.dataPath(old), { force: true });
    this.entries.set(full.name, full);
    return full;
  }

  /** Removes a blob from staging, keeping its last version in the retention area. */
  async remove(name: string, reason: RetentionReason = "deleted at source"): Promise<void> {
    const old = this.entries.get(name);
    if (!old) return;
    await this.markDirty();
    const data = this.dataPath(old);
    await this.retention.keep(this.site, this.container, old, data, reason);
    await fs.rm(join(this.dir, `${objectStem(name)}.json`), { force: true });
    await fs.rm(data, { force: true });
    this.entries.delete(name);
  }

  /**
   * Drops a damaged staged copy without keeping it, so the next pull fetches the blob again. The pull mark goes
   * too: without the entry, staging no longer says what the source has, and a push on it must not delete (the blob
   * would look deleted at the source) or claim a recovery point.
   */
  async forget(name: string): Promise<void> {
    const old = this.entries.get(name);
    if (!old) return;
    await clearPullMark(this.dir);
    await this.markDirty();
    await fs.rm(join(this.dir, `${objectStem(name)}.json`), { force: true });
    await fs.rm(this.dataPath(old), { force: true });
    this.entries.delete(name);
  }

  /** Writes the index and clears the dirty marker, if anything changed. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const tmp = join(this.dir, `.index.${randomBytes(6).toString("hex")}.tmp`);
    const out = createWriteStream(tmp, { mode: 0o600 });
    for (const e of this.entries.values()) {
      if (!out.write(JSON.stringify(e) + "\n")) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fs.rename(tmp, join(this.dir, "index.jsonl"));
    await fs.rm(join(this.dir, "dirty"), { force: true });
    this.dirty = false;
  }

  private async loadIndex(): Promise<boolean> {
    const path = join(this.dir, "index.jsonl");
    if (!(await exists(path))) return false;
    const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const e = JSON.parse(line) as StagedEntry;
      this.entries.set(e.name, e);
    }
    return true;
  }

  /**
   * Rebuilds the index from the manifests after a crash, and removes data files no manifest points to (a new
   * version whose manifest never landed, or an old one already kept in the retention area).
   */
  private async rebuild(): Promise<void> {
    this.entries.clear();
    const objects = join(this.dir, "objects");
    for (const shard of await fs.readdir(objects)) {
      const dir = join(objects, shard);
      const files = await fs.readdir(dir);
      const referenced = new Set<string>();
      for (const f of files) {
        if (!f.endsWith(".json") || f.startsWith(".")) continue;
        try {
          const e = JSON.parse(await fs.readFile(join(dir, f), "utf8")) as StagedEntry;
          if (await exists(join(dir, e.dataFile))) {
            this.entries.set(e.name, e);
            referenced.add(e.dataFile);
          }
        } catch {
          // Manifests are written by rename, so a torn one is not expected; if the disk lost it, the next pull re-fetches.
        }
      }
      for (const f of files) {
        if ((f.endsWith(".bin") && !referenced.has(f)) || f.endsWith(".tmp")) await fs.rm(join(dir, f), { force: true });
      }
    }
    await this.save();
  }
}

/**
 * What each blob's last successful push wrote: the staged version (source ETag) and the ETag the target gave it.
 * Kept beside the staged container as `pushed-<target>.jsonl`: a snapshot followed by one appended line per
 * upload or delete, so a run killed mid-push still remembers every blob it finished. `compact()` rewrites it.
 */
export class LegacyPushRecords {
  private readonly records = new Map<string, PushRecord>();
  private journal?: WriteStream;
  /** Lines appended since the file was last compacted (by this or an earlier, killed run). */
  private appended = 0;

  private constructor(private readonly path: string) {}

  static async open(containerDir: string, targetSite: string): Promise<LegacyPushRecords> {
    const r = new LegacyPushRecords(join(containerDir, `pushed-${targetSite}.jsonl`));
    if (await exists(r.path)) {
      const lines = createInterface({ input: createReadStream(r.path, "utf8"), crlfDelay: Infinity });
      let lineCount = 0;
      for await (const line of lines) {
        if (!line) continue;
        lineCount++;
        let rec: { n: string; s?: string; d?: string; m?: string };
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // The last line of a killed run may be cut short; every line before it is whole.
        }
        if (rec.s && rec.d) r.records.set(rec.n, { srcEtag: rec.s, dstEtag: rec.d, ...(rec.m ? { md5: rec.m } : {}) });
        else r.records.delete(rec.n);
      }
      r.appended = lineCount - r.records.size;
    }
    return r;
  }

  get(name: string): PushRecord | undefined {
    return this.records.get(name);
  }

  get size(): number {
    return this.records.size;
  }

  set(name: string, rec: PushRecord): void {
    this.records.set(name, rec);
    this.append({ n: name, s: rec.srcEtag, d: rec.dstEtag, m: rec.md5 });
  }

  delete(name: string): void {
    if (!this.records.delete(name)) return;
    this.append({ n: name });
  }

  /** Rewrites the file with one line per blob, dropping records of names no longer staged; a no-op when nothing was appended. */
  async compact(keep: (name: string) => boolean): Promise<void> {
    await this.close();
    if (this.appended === 0) return;
    const tmp = `${this.path}.tmp`;
    const out = createWriteStream(tmp, { mode: 0o600 });
    for (const [n, r] of this.records) {
      if (!keep(n)) continue;
      if (!out.write(JSON.stringify({ n, s: r.srcEtag, d: r.dstEtag, m: r.md5 }) + "\n")) await new Promise<void>((res) => out.once("drain", () => res()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fs.rename(tmp, this.path);
    this.appended = 0;
  }

  async close(): Promise<void> {
    const j = this.journal;
    this.journal = undefined;
    if (j) await new Promise<void>((resolve) => j.end(() => resolve()));
  }

  private append(line: object): void {
    this.appended++;
    if (!this.journal) this.journal = createWriteStream(this.path, { flags: "a", mode: 0o600 });
    this.journal.write(JSON.stringify(line) + "\n");
  }
}
