import { describeError, FatalError, isStagingDiskFailure } from "../storage/errors";
import { BlobKind, PushRecord, RangeMd5s, StagedEntry } from "../model/blob";
import { isStorableName } from "./blob-name";
import { DatabaseSync, openDatabase, SqlValue, StatementSync } from "./sqlite";

/** A staged entry as `entriesWithRecords` gives it: with what the last push of it to one target wrote. */
export type StagedEntryWithRecord = StagedEntry & { readonly record?: PushRecord };

/** The index could not be opened or used as asked; nothing was written for the operation that failed. */
export class IndexError extends FatalError {
  /** @param cause the error SQLite or the OS gave, where there was one. */
  constructor(readonly file: string, message: string, cause?: unknown) {
    super(`staging index ${file}: ${message}`);
    this.name = "IndexError";
    if (cause !== undefined) this.cause = cause;
  }
}

/** How the index trades durability and memory for speed. */
export interface IndexOptions {
  /**
   * SQLite's `synchronous` in WAL mode. NORMAL loses no committed transaction when the process is killed, only
   * the last ones on a power cut (their data files are then re-pulled); FULL also survives a power cut, at an
   * fsync per commit. See docs/engine.md for the measurement.
   * @default "NORMAL"
   */
  readonly synchronous?: "NORMAL" | "FULL";
  /** Writes grouped into one transaction, at most this many rows. @default 10000 */
  readonly batchRows?: number;
  /** ... and at most this long since the batch began, in milliseconds. @default 1000 */
  readonly batchMs?: number;
  /** SQLite's page cache, in KiB: bounds the index's memory whatever the blob count. @default 8192 */
  readonly cacheKiB?: number;
  /** Rows read per page of a cursor. @default 1000 */
  readonly pageRows?: number;
  /** Time to wait for another connection's lock, in milliseconds. @default 5000 */
  readonly busyTimeoutMs?: number;
  /**
   * Opened only to read, beside the run that may be writing it (verify): nothing is written, not even the schema
   * or the journal mode, so it never waits for the writer's lock (WAL readers do not block).
   * @default false
   */
  readonly reader?: boolean;
}

export const INDEX_SCHEMA_VERSION = 1;

// WITHOUT ROWID: the name is the key, so rows sit in name order and a cursor is a range scan of the table itself.
// The file is UTF-16BE, so SQLite's BINARY collation (memcmp of the stored text) orders names by UTF-16 code
// unit: the Blob service's listing order (see blob-name.ts). UTF-8 would put non-BMP characters last.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  name TEXT PRIMARY KEY, src_etag TEXT NOT NULL, size INTEGER NOT NULL, last_modified TEXT NOT NULL,
  kind TEXT NOT NULL, props TEXT NOT NULL, metadata TEXT NOT NULL, data_file TEXT NOT NULL,
  page_ranges TEXT, staged_md5 TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS push_records (
  target TEXT NOT NULL, name TEXT NOT NULL, src_etag TEXT NOT NULL, dst_etag TEXT NOT NULL, md5 TEXT, PRIMARY KEY (target, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_deletes (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (queue TEXT NOT NULL, name TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (queue, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS range_md5s (name TEXT PRIMARY KEY, data_file TEXT NOT NULL, range_size INTEGER NOT NULL, md5s TEXT NOT NULL) WITHOUT ROWID;
`;
// range_md5s came after schema 1 without a version change: a table only added, which an older dr-sync ignores (its
// rows are trusted only for the data file they name, so one an older version left behind is never misread).

/**
 * Forgets one name's push records at every target site. The key is (target, name), so `WHERE name = ?` alone reads
 * every record (20 ms per call at 400,000 records); the few targets are found by a skip through the key instead,
 * and each (target, name) is one lookup. Exported for the test of its query plan.
 */
export const DELETE_RECORDS_OF_NAME_SQL = "DELETE FROM push_records WHERE name = ?1 AND target IN (" +
  "WITH RECURSIVE t(x) AS (SELECT min(target) FROM push_records " +
  "UNION ALL SELECT (SELECT min(target) FROM push_records WHERE target > t.x) FROM t WHERE t.x IS NOT NULL) " +
  "SELECT x FROM t WHERE x IS NOT NULL)";

const ENTRY_COLUMNS = "name, src_etag, size, last_modified, kind, props, metadata, data_file, page_ranges, staged_md5";
const ENTRY_COLUMNS_E = ENTRY_COLUMNS.split(", ").map((c) => `e.${c}`).join(", ");

/**
 * One staged container's index on disk (SQLite through `node:sqlite`): the staged entries, the push records, the
 * names seen by the current run and the deletions waiting for the guard. Memory stays flat: rows are read a page
 * at a time in name order and written in batched transactions. Not safe for two processes writing at once; the
 * run's lock (state/lock.ts) is what keeps a second run out.
 */
export class StagingIndex {
  private readonly db: DatabaseSync;
  private readonly opts: Required<IndexOptions>;
  private readonly st: Record<string, StatementSync>;
  private readonly rangeMd5sReadable: boolean;
  private pendingRows = 0;
  private committed: (() => void)[] = [];
  private batchStarted = 0;
  private closed = false;
  /** Commits a batch whose writes come slowly (one per transfer), so a kill never loses more than batchMs of them. */
  private batchTimer?: ReturnType<typeof setTimeout>;
  /**
   * Why the index stopped: a batch that never reached the disk (see `batchLost`), thrown at every later write and
   * flush, whoever makes it (a caller that swallows one must not let the next carry on).
   */
  private failure?: unknown;
  /** True between `beginScratch` and `endScratch`: every write stays in one transaction that is never committed. */
  private scratch = false;

  private constructor(readonly file: string, db: DatabaseSync, opts: Required<IndexOptions>) {
    this.db = db;
    this.opts = opts;
    const p = (sql: string) => db.prepare(sql);
    // Cursors and single-row reads return arrays: rows are read by column position (ENTRY_COLUMNS' order).
    const rows = (sql: string) => {
      const stmt = db.prepare(sql);
      stmt.setReturnArrays(true);
      return stmt;
    };
    this.st = {
      putEntry: p(`INSERT OR REPLACE INTO entries (${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      getEntry: rows(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE name = ?`),
      deleteEntry: p("DELETE FROM entries WHERE name = ?"),
      countEntries: p("SELECT count(*) AS n FROM entries"),
      firstEntries: rows(`SELECT ${ENTRY_COLUMNS} FROM entries ORDER BY name LIMIT ?`),
      nextEntries: rows(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE name > ? ORDER BY name LIMIT ?`),
      firstEntriesRec: rows(`SELECT ${ENTRY_COLUMNS_E}, r.src_etag, r.dst_etag, r.md5 FROM entries e LEFT JOIN push_records r ON r.target = ?1 AND r.name = e.name ORDER BY e.name LIMIT ?2`),
      nextEntriesRec: rows(`SELECT ${ENTRY_COLUMNS_E}, r.src_etag, r.dst_etag, r.md5 FROM entries e LEFT JOIN push_records r ON r.target = ?1 AND r.name = e.name WHERE e.name > ?3 ORDER BY e.name LIMIT ?2`),
      putRecord: p("INSERT OR REPLACE INTO push_records (target, name, src_etag, dst_etag, md5) VALUES (?, ?, ?, ?, ?)"),
      getRecord: rows("SELECT src_etag, dst_etag, md5 FROM push_records WHERE target = ? AND name = ?"),
      deleteRecord: p("DELETE FROM push_records WHERE target = ? AND name = ?"),
      deleteRecordsOf: p(DELETE_RECORDS_OF_NAME_SQL),
      deleteRecordsWithoutEntries: p("DELETE FROM push_records WHERE name NOT IN (SELECT name FROM entries)"),
      firstRecords: rows("SELECT name, src_etag, dst_etag, md5 FROM push_records WHERE target = ?1 ORDER BY name LIMIT ?2"),
      nextRecords: rows("SELECT name, src_etag, dst_etag, md5 FROM push_records WHERE target = ?1 AND name > ?3 ORDER BY name LIMIT ?2"),
      markSeen: p("INSERT OR IGNORE INTO seen (name) VALUES (?)"),
      firstUnseen: rows("SELECT name FROM entries WHERE name NOT IN (SELECT name FROM seen) ORDER BY name LIMIT ?"),
      nextUnseen: rows("SELECT name FROM entries WHERE name > ? AND name NOT IN (SELECT name FROM seen) ORDER BY name LIMIT ?"),
      addPendingDelete: p("INSERT OR IGNORE INTO pending_deletes (name) VALUES (?)"),
      countPendingDeletes: p("SELECT count(*) AS n FROM pending_deletes"),
      firstPendingDeletes: rows("SELECT name FROM pending_deletes ORDER BY name LIMIT ?"),
      nextPendingDeletes: rows("SELECT name FROM pending_deletes WHERE name > ? ORDER BY name LIMIT ?"),
      enqueue: p("INSERT OR REPLACE INTO queue (queue, name, item) VALUES (?, ?, ?)"),
      countQueued: p("SELECT count(*) AS n FROM queue WHERE queue = ?"),
      countQueuedStaged: p("SELECT count(*) AS n FROM queue q JOIN entries e ON e.name = q.name WHERE q.queue = ?"),
      clearQueue: p("DELETE FROM queue WHERE queue = ?"),
      dequeue: p("DELETE FROM queue WHERE queue = ? AND name = ?"),
      dequeueBefore: p("DELETE FROM queue WHERE queue = ? AND json_extract(item, '$.at') < ?"),
      getQueued: rows("SELECT item FROM queue WHERE queue = ? AND name = ?"),
      firstQueued: rows("SELECT name, item FROM queue WHERE queue = ?1 ORDER BY name LIMIT ?2"),
      nextQueued: rows("SELECT name, item FROM queue WHERE queue = ?1 AND name > ?3 ORDER BY name LIMIT ?2"),
      pruneRecords: p("DELETE FROM push_records WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entries.name = push_records.name)"),
      countRecords: p("SELECT count(*) AS n FROM push_records WHERE target = ?"),
      getMeta: p("SELECT value FROM meta WHERE key = ?"),
      putMeta: p("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    };
    // A writer has created the table; an index opened only to read may have been written by a version before it.
    this.rangeMd5sReadable = !opts.reader || db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'range_md5s'").get() !== undefined;
    if (this.rangeMd5sReadable) {
      Object.assign(this.st, {
        putRangeMd5s: p("INSERT OR REPLACE INTO range_md5s (name, data_file, range_size, md5s) VALUES (?, ?, ?, ?)"),
        deleteRangeMd5s: p("DELETE FROM range_md5s WHERE name = ?"),
        getRangeMd5s: rows("SELECT data_file, range_size, md5s FROM range_md5s WHERE name = ?"),
      });
    }
  }

  /** Opens (or creates) the index in `file`. A file of another schema version is refused, untouched. */
  static open(file: string, options: IndexOptions = {}): StagingIndex {
    const opts: Required<IndexOptions> = {
      synchronous: "NORMAL", batchRows: 10_000, batchMs: 1000, cacheKiB: 8192, pageRows: 1000, busyTimeoutMs: 5000, reader: false, ...options,
    };
    let db: DatabaseSync;
    try {
      db = openDatabase(file, opts.busyTimeoutMs);
    } catch (err) {
      throw new IndexError(file, `cannot be opened (${(err as Error).message})`);
    }
    try {
      // Only takes effect on a new file; an existing one is checked below.
      db.exec("PRAGMA encoding = 'UTF-16be'");
      // Checked by reading only, before anything is written (the journal mode too): a foreign or newer file is
      // refused as it is.
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name);
      if (tables.length > 0) {
        const v = tables.includes("meta") ? db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()?.value : undefined;
        if (v !== String(INDEX_SCHEMA_VERSION)) {
          throw new IndexError(file, `has schema version ${v ?? "(none: not a dr-sync index)"}, this dr-sync reads ${INDEX_SCHEMA_VERSION}; nothing was changed`);
        }
        const encoding = db.prepare("PRAGMA encoding").get()?.encoding;
        if (encoding !== "UTF-16be") throw new IndexError(file, `is encoded ${encoding}, which would not keep names in the service's order; nothing was changed`);
      }
      if (opts.reader) {
        if (tables.length === 0) throw new IndexError(file, "is empty: no dr-sync index to read");
        db.exec(`PRAGMA cache_size = -${Math.floor(opts.cacheKiB)};`);
      } else {
        db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.synchronous}; PRAGMA cache_size = -${Math.floor(opts.cacheKiB)};`);
        db.exec(`BEGIN; ${SCHEMA} INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '${INDEX_SCHEMA_VERSION}'); COMMIT;`);
      }
    } catch (err) {
      db.close();
      if (err instanceof IndexError) throw err;
      throw new IndexError(file, `is not a usable SQLite database (${(err as Error).message}); nothing was changed`);
    }
    return new StagingIndex(file, db, opts);
  }

  putEntry(e: StagedEntry): void {
    this.write(this.st.putEntry, this.checkName(e.name), e.srcEtag, e.size, e.lastModified, e.kind, JSON.stringify(e.props),
      JSON.stringify(e.metadata), e.dataFile, e.pageRanges ? JSON.stringify(e.pageRanges) : null, e.stagedMd5 ?? null);
  }

  getEntry(name: string): StagedEntry | undefined {
    const row = this.st.getEntry.get(name) as unknown as SqlValue[] | undefined;
    return row && toEntry(row);
  }

  deleteEntry(name: string): void {
    this.write(this.st.deleteEntry, name);
    this.deleteRangeMd5s(name);
  }

  deleteRangeMd5s(name: string): void {
    this.write(this.st.deleteRangeMd5s, name);
  }

  /** Records the MD5 of each range a staged data file was received in (`RangeMd5s`). */
  putRangeMd5s(name: string, dataFile: string, r: RangeMd5s): void {
    this.write(this.st.putRangeMd5s, this.checkName(name), dataFile, r.rangeSize, r.md5s.join(","));
  }

  /** The ranges' MD5s recorded for exactly this data file of `name`, if any (an index opened to read may predate the table). */
  getRangeMd5s(name: string, dataFile: string): RangeMd5s | undefined {
    if (!this.rangeMd5sReadable) return undefined;
    const row = this.st.getRangeMd5s.get(name) as unknown as SqlValue[] | undefined;
    if (!row || row[0] !== dataFile) return undefined;
    return { rangeSize: Number(row[1]), md5s: (row[2] as string).split(",") };
  }

  countEntries(): number {
    return Number(this.st.countEntries.get()!.n);
  }

  /** Every staged entry in the service's listing order, a page at a time; writes between pages are fine. */
  entries(): Generator<StagedEntry> {
    return this.pages(this.st.firstEntries, this.st.nextEntries, toEntry);
  }

  /**
   * Every staged entry with its push record for `target` (if any), in listing order: one join in SQLite instead
   * of a lookup per entry, which at millions of blobs is most of a quiet push's cost.
   */
  entriesWithRecords(target: string): Generator<StagedEntryWithRecord> {
    return this.pages(this.st.firstEntriesRec, this.st.nextEntriesRec, (row) => {
      const e = toEntry(row) as { record?: PushRecord } & StagedEntry;
      if (row[10] !== null) e.record = toRecord(row.slice(10));
      return e;
    }, [target]);
  }

  /** Records what the last push of `name` to the target site `target` wrote (one row per target and name). */
  putPushRecord(target: string, name: string, r: PushRecord): void {
    this.write(this.st.putRecord, target, this.checkName(name), r.srcEtag, r.dstEtag, r.md5 ?? null);
  }

  getPushRecord(target: string, name: string): PushRecord | undefined {
    const row = this.st.getRecord.get(target, name) as unknown as SqlValue[] | undefined;
    return row && toRecord(row);
  }

  deletePushRecord(target: string, name: string): void {
    this.write(this.st.deleteRecord, target, name);
  }

  /** Forgets what every target was last written of one name (a scan of the records: for a rare case only). */
  deletePushRecordsOf(name: string): void {
    this.write(this.st.deleteRecordsOf, name);
  }

  /** Forgets the push records of every name that has no staged entry (one pass, for the legacy migration). */
  deletePushRecordsWithoutEntries(): void {
    this.write(this.st.deleteRecordsWithoutEntries);
  }

  /** Every push record for one target site with its name, in listing order. */
  pushRecords(target: string): Generator<[string, PushRecord]> {
    return this.pages(this.st.firstRecords, this.st.nextRecords, (row) => [row[0] as string, toRecord(row.slice(1))], [target]);
  }

  countPushRecords(target: string): number {
    return Number(this.st.countRecords.get(target)!.n);
  }

  /** Drops the push records, for every target, of names no longer staged (one pass over the records). */
  prunePushRecords(): void {
    this.write(this.st.pruneRecords);
  }

  /** Puts `item` (JSON) under `name` in the named queue: work found by a walk, done after it (the guard first). */
  enqueue(queue: string, name: string, item: unknown): void {
    this.write(this.st.enqueue, queue, this.checkName(name), JSON.stringify(item));
  }

  countQueued(queue: string): number {
    return Number(this.st.countQueued.get(queue)!.n);
  }

  /** How many names of the named queue are staged entries. */
  countQueuedStaged(queue: string): number {
    return Number(this.st.countQueuedStaged.get(queue)!.n);
  }

  /** The item queued under `name`, if any. */
  queuedItem<T>(queue: string, name: string): T | undefined {
    const row = this.st.getQueued.get(queue, name) as unknown as SqlValue[] | undefined;
    return row ? (JSON.parse(row[0] as string) as T) : undefined;
  }

  /** A queue's items in name order, a page at a time. */
  queued<T>(queue: string): Generator<T> {
    return this.pages(this.st.firstQueued, this.st.nextQueued, (row) => JSON.parse(row[1] as string) as T, [queue]);
  }

  clearQueue(queue: string): void {
    this.write(this.st.clearQueue, queue);
  }

  /** Takes `name` out of the named queue, if it is there. */
  dequeue(queue: string, name: string): void {
    this.write(this.st.dequeue, queue, name);
  }

  /** Takes out of the named queue every item whose `at` (a number) is below `before`. */
  dequeueBefore(queue: string, before: number): void {
    this.write(this.st.dequeueBefore, queue, before);
  }

  /**
   * Of `files` (data file names found on disk), those no entry points to: what a kill left between a data file's
   * rename and its entry's commit, or a superseded version whose removal the kill cut off. Read-only; the file
   * names go through a temporary table, so the check needs no memory per blob.
   */
  unreferencedDataFiles(files: Iterable<string>): string[] {
    this.flush();
    this.db.exec("CREATE TEMP TABLE IF NOT EXISTS disk_files (f TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.disk_files;");
    const put = this.db.prepare("INSERT OR IGNORE INTO temp.disk_files (f) VALUES (?)");
    this.inTransaction(() => { for (const f of files) put.run(f); });
    // One pass: SQLite builds a transient index on entries.data_file for the NOT EXISTS (automatic indexing).
    const out = this.db.prepare("SELECT f FROM temp.disk_files WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entries.data_file = disk_files.f)")
      .all().map((r) => r.f as string);
    this.db.exec("DROP TABLE temp.disk_files");
    return out;
  }

  /** Starts a run: forgets the previous run's seen names and pending deletions. */
  beginRun(): void {
    this.flush();
    this.inTransaction("DELETE FROM seen; DELETE FROM pending_deletes;");
  }

  /** Notes that this run's listing showed `name`. */
  markSeen(name: string): void {
    this.write(this.st.markSeen, this.checkName(name));
  }

  /** Staged names this run's listing did not show, in listing order: the pull's deletion candidates. */
  unseenNames(): Generator<string> {
    return this.pages(this.st.firstUnseen, this.st.nextUnseen, (row) => row[0] as string);
  }

  /** Queues a deletion for the guard to count and the executor to carry out. */
  addPendingDelete(name: string): void {
    this.write(this.st.addPendingDelete, this.checkName(name));
  }

  countPendingDeletes(): number {
    return Number(this.st.countPendingDeletes.get()!.n);
  }

  pendingDeletes(): Generator<string> {
    return this.pages(this.st.firstPendingDeletes, this.st.nextPendingDeletes, (row) => row[0] as string);
  }

  getMeta(key: string): string | undefined {
    return this.st.getMeta.get(key)?.value as string | undefined;
  }

  putMeta(key: string, value: string): void {
    this.write(this.st.putMeta, key, value);
  }

  /**
   * Runs `action` once every write made so far is committed (at once when none is pending). For what must not
   * happen before the row that makes it safe is on disk: removing a superseded data file before the entry that
   * points at its successor is committed would leave a committed entry pointing at nothing after a kill.
   */
  afterCommit(action: () => void): void {
    // In a scratch transaction there is no commit to wait for: the action never runs.
    if (this.scratch) return;
    if (this.db.isTransaction) this.committed.push(action);
    else action();
  }

  /**
   * Starts a scratch transaction, for `plan`: every write from now on (the pull's changes the push is planned on)
   * is seen by this index's reads and by no one else, is never committed, and is undone by `endScratch`. Nothing
   * is copied: the disk it takes is SQLite's WAL for the rows it writes (once they outgrow the page cache), freed
   * when the index closes, so it follows what the plan would change, not the index's size. A kill leaves the index
   * as it was (SQLite discards a transaction that never committed).
   */
  beginScratch(): void {
    if (this.scratch) throw new Error(`${this.file}: a scratch transaction is already open`);
    this.flush();
    this.db.exec("BEGIN");
    this.scratch = true;
  }

  /** Undoes every write since `beginScratch`; the actions waiting for a commit of them never run. */
  endScratch(): void {
    if (!this.scratch) return;
    // Cleared only once the rollback succeeded: a flush after a failed one must still not commit the plan.
    if (this.db.isTransaction) this.db.exec("ROLLBACK");
    this.scratch = false;
    this.pendingRows = 0;
    this.committed = [];
  }

  /** Commits the open batch: after this returns, every write so far survives the process being killed. */
  flush(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.throwFailure();
    // A scratch transaction is never committed, and what waits for a commit waits for one that never comes.
    if (this.scratch) return;
    if (this.db.isTransaction) {
      try {
        this.db.exec("COMMIT");
      } catch (err) {
        this.batchLost(err, "committing a batch");
      }
    }
    this.pendingRows = 0;
    const actions = this.committed;
    this.committed = [];
    for (const a of actions) a();
  }

  /** Commits and closes; the file is closed even when the commit fails (which is then thrown). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // A scratch transaction that cannot be rolled back is not flushed: closing discards it.
      this.endScratch();
      this.flush();
    } finally {
      this.db.close();
    }
  }

  private write(stmt: StatementSync, ...params: SqlValue[]): void {
    this.throwFailure();
    if (!this.db.isTransaction) {
      this.checkScratchOpen();
      this.db.exec("BEGIN");
      this.batchStarted = Date.now();
      // Between two statements is a safe moment to commit: no cursor keeps a statement open across pages.
      if (this.opts.batchMs < 2 ** 31) {
        this.batchTimer = setTimeout(() => {
          this.batchTimer = undefined;
          try {
            this.flush();
          } catch (err) {
            // Kept for the next write or flush to throw (a timer has no caller to tell).
            this.failure ??= err;
          }
        }, this.opts.batchMs);
        this.batchTimer.unref?.();
      }
    }
    try {
      stmt.run(...params);
    } catch (err) {
      // SQLite rolls the whole transaction back itself on a full disk or an I/O error: the batch is gone.
      if (!this.scratch && !this.db.isTransaction) this.batchLost(err, "writing a row");
      throw err;
    }
    // Date.now() only every 256 rows: it costs more than the insert's bookkeeping.
    if (++this.pendingRows >= this.opts.batchRows || ((this.pendingRows & 255) === 0 && Date.now() - this.batchStarted >= this.opts.batchMs)) this.flush();
  }

  /**
   * Runs `sql` (or `work`) as one transaction of its own, or, inside a scratch transaction, as a savepoint in it
   * (so it is undone with the rest). Nothing else may be pending: callers flush first.
   */
  private inTransaction(work: string | (() => void)): void {
    // Outside a transaction a SAVEPOINT starts one, and its RELEASE commits.
    this.checkScratchOpen();
    this.db.exec(this.scratch ? "SAVEPOINT one" : "BEGIN");
    try {
      if (typeof work === "string") this.db.exec(work);
      else work();
    } catch (err) {
      // SQLite may have rolled the transaction back itself (a full disk): then there is nothing left to undo.
      if (this.db.isTransaction) this.db.exec(this.scratch ? "ROLLBACK TO one; RELEASE one" : "ROLLBACK");
      throw err;
    }
    this.db.exec(this.scratch ? "RELEASE one" : "COMMIT");
  }

  /**
   * The open batch never reached the disk: SQLite rolled it back itself (a full disk, an I/O error) or its COMMIT
   * failed. Its rows are lost, so the actions waiting for its commit (removing the data files its rows superseded)
   * must never run, and the index refuses every later write: the run stops rather than carry on from a staging
   * that no longer says what it did. The next run finds the superseded rows and data files as they were.
   */
  private batchLost(err: unknown, doing: string): never {
    const rows = this.pendingRows;
    this.committed = [];
    this.pendingRows = 0;
    try {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
    } catch {
      // Closing the connection discards it.
    }
    const fix = isStagingDiskFailure(err) ? "free space on the staging disk (or repair it) and run again" : "check the staging disk and run again";
    this.failure = new IndexError(this.file, `${doing} failed (${describeError(err)}): the last ${rows} change(s) were rolled back and the run stopped, ` +
      `so that nothing acts on them; ${fix}, which redoes them`, err);
    throw this.failure;
  }

  /** SQLite may end a transaction itself (disk full, I/O error): a scratch write must not then start one that
   *  commits, into the real index, what a plan only pretended. */
  private checkScratchOpen(): void {
    if (this.scratch && !this.db.isTransaction) throw new IndexError(this.file, "the plan's scratch transaction ended early; nothing it planned was committed");
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private checkName(name: string): string {
    if (!isStorableName(name)) throw new IndexError(this.file, `blob name ${JSON.stringify(name)} is empty or not valid Unicode (a lone surrogate); it was not stored`);
    return name;
  }

  /** Rows a page at a time by keyset (name > the last one read): no statement stays open between pages. */
  private *pages<T>(first: StatementSync, next: StatementSync, map: (row: SqlValue[]) => T, scope: SqlValue[] = []): Generator<T> {
    // Scoped statements number their parameters: ?1 the scope, ?2 the page size, ?3 the last name read.
    let rows = first.all(...scope, this.opts.pageRows) as unknown as SqlValue[][];
    while (rows.length > 0) {
      for (const row of rows) yield map(row);
      if (rows.length < this.opts.pageRows) return;
      const last = rows[rows.length - 1][0];
      rows = (scope.length ? next.all(...scope, this.opts.pageRows, last) : next.all(last, this.opts.pageRows)) as unknown as SqlValue[][];
    }
  }
}

function toEntry(row: SqlValue[]): StagedEntry {
  const [name, srcEtag, size, lastModified, kind, props, metadata, dataFile, pageRanges, stagedMd5] = row;
  const e: { -readonly [K in keyof StagedEntry]: StagedEntry[K] } = {
    name: name as string, srcEtag: srcEtag as string, size: Number(size), lastModified: lastModified as string,
    kind: kind as BlobKind, props: JSON.parse(props as string), metadata: JSON.parse(metadata as string), dataFile: dataFile as string,
  };
  if (pageRanges !== null) e.pageRanges = JSON.parse(pageRanges as string);
  if (stagedMd5 !== null) e.stagedMd5 = stagedMd5 as string;
  return e;
}

/** From [src_etag, dst_etag, md5]. */
function toRecord([srcEtag, dstEtag, md5]: SqlValue[]): PushRecord {
  return md5 === null ? { srcEtag: srcEtag as string, dstEtag: dstEtag as string } : { srcEtag: srcEtag as string, dstEtag: dstEtag as string, md5: md5 as string };
}
