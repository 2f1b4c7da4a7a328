/**
 * The part of `node:sqlite` the index uses, typed here because the repository's @types/node (20) predates the
 * module. The runtime runs only on the pinned Node.js (26), where `node:sqlite` is built in.
 */
export type SqlValue = null | number | bigint | string | Uint8Array;

export interface StatementSync {
  run(...params: SqlValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqlValue[]): Record<string, SqlValue> | undefined;
  all(...params: SqlValue[]): Record<string, SqlValue>[];
  /** Rows as arrays of column values instead of objects: cheaper to make, by about half at a million rows. */
  setReturnArrays(enabled: boolean): void;
}

export interface DatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): StatementSync;
  close(): void;
  readonly isTransaction: boolean;
}

interface SqliteModule {
  DatabaseSync: new (path: string, options?: { open?: boolean; timeout?: number }) => DatabaseSync;
}

/** Opens a database file (created if missing). */
export function openDatabase(path: string, timeoutMs: number): DatabaseSync {
  // Loaded on first use, so modules that import the index still load on a Node.js without it (the drill's node 20).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sqlite = require("node:sqlite") as SqliteModule;
  return new sqlite.DatabaseSync(path, { timeout: timeoutMs });
}
