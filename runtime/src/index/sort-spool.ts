import { DatabaseSync, openDatabase, SqlValue, StatementSync } from "./sqlite";

/**
 * An external sort on the staging disk: items go in under a key in any order and come out in key order (ties in
 * the order they went in), a page at a time, so memory stays flat however many there are. A SQLite file of its own
 * (not the staging index): rows are appended to a rowid table and only the key is indexed, which measured 6×
 * faster than keeping large rows in key order (a WITHOUT ROWID table) when the keys arrive at random. Scratch
 * data: no journal, nothing synced; a crash leaves a file the scratch folder's removal takes away.
 */
export class SortSpool<T> {
  private readonly insert: StatementSync;
  private readonly first: StatementSync;
  private readonly next: StatementSync;
  private pending = 0;
  private closed = false;

  private constructor(private readonly db: DatabaseSync, private readonly pageRows: number, private readonly batchRows: number) {
    db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8192; PRAGMA temp_store = FILE;" +
      "CREATE TABLE spool (id INTEGER PRIMARY KEY, key TEXT NOT NULL, item TEXT NOT NULL); CREATE INDEX spool_key ON spool (key, id);");
    this.insert = db.prepare("INSERT INTO spool (key, item) VALUES (?, ?)");
    this.first = db.prepare("SELECT id, key, item FROM spool ORDER BY key, id LIMIT ?");
    this.next = db.prepare("SELECT id, key, item FROM spool WHERE (key, id) > (?, ?) ORDER BY key, id LIMIT ?");
    for (const s of [this.first, this.next]) s.setReturnArrays(true);
  }

  /** A new spool in `file` (which must not exist). Rows per page read, and per transaction written. */
  static create<T>(file: string, pageRows = 1000, batchRows = 10_000): SortSpool<T> {
    return new SortSpool<T>(openDatabase(file, 5000), pageRows, batchRows);
  }

  add(key: string, item: T): void {
    if (!this.db.isTransaction) this.db.exec("BEGIN");
    this.insert.run(key, JSON.stringify(item));
    if (++this.pending >= this.batchRows) this.commit();
  }

  /** Commits what was added: after this, a full disk has had its say. */
  flush(): void {
    this.commit();
  }

  /** Every item in key order. */
  *sorted(): Generator<T> {
    this.commit();
    let rows = this.first.all(this.pageRows) as unknown as SqlValue[][];
    while (rows.length > 0) {
      for (const r of rows) yield JSON.parse(r[2] as string) as T;
      const last = rows[rows.length - 1];
      rows = this.next.all(last[1], last[0], this.pageRows) as unknown as SqlValue[][];
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.commit();
    this.db.close();
  }

  private commit(): void {
    if (this.db.isTransaction) this.db.exec("COMMIT");
    this.pending = 0;
  }
}
