import { createReadStream, promises as fs } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { StagedEntry } from "../model/blob";
import { IndexOptions, StagingIndex } from "../index/staging-index";
import { killPoint } from "../index/kill-point";
import { FatalError } from "../storage/errors";
import { exists } from "./atomic-file";
import { clearPullMark } from "./pull-mark";

/** A staging folder of the version before the index that cannot be migrated as it is; nothing was changed. */
export class MigrationError extends FatalError {
  constructor(readonly file: string, readonly containerDir: string, problem: string) {
    super(`staging ${file} ${problem}; the folder was left as it is. To rebuild this container's staging, move ${containerDir} aside ` +
      "and run `dr-sync pull` (it fetches the container again)");
    this.name = "MigrationError";
  }
}

/** Meta key of a migrated index: "cleanup" until the old files are removed, then "done". */
const LEGACY_META = "legacy";

/**
 * Migrates a staged container made by the version before the index (manifests `objects/ab/<key>.json`,
 * `pushed-<target>.jsonl`, `index.jsonl`) into `indexFile`, as docs/engine.md's table says: every row is written
 * into `<indexFile>.tmp` in one transaction, which is renamed into place, and only then are the old files removed.
 * A kill before the rename leaves the old folder as it was (migrated again next time); a kill after it leaves a
 * complete index whose clean-up the next open finishes. A folder with an index and nothing to clean is left alone.
 */
export async function migrateLegacyFolder(dir: string, indexFile: string, options: IndexOptions = {}): Promise<"none" | "migrated"> {
  const target = join(dir, indexFile);
  if (await exists(target)) {
    await finishCleanup(dir, target, options);
    return "none";
  }
  const top = await fs.readdir(dir);
  const records = top.filter((f) => /^pushed-.+\.jsonl$/.test(f));
  if (records.length === 0 && !top.includes("index.jsonl") && (await manifestFiles(dir).next()).done) return "none";

  const tmp = `${target}.tmp`;
  await removeDatabase(tmp);
  // One transaction for the whole migration: nothing is committed before every manifest has been read.
  const index = StagingIndex.open(tmp, { ...options, batchRows: Number.MAX_SAFE_INTEGER, batchMs: Number.MAX_SAFE_INTEGER });
  let dropped = 0;
  try {
    for await (const file of manifestFiles(dir)) {
      const entry = await readManifest(dir, file);
      // A manifest whose bytes are gone is what the old version's rebuild dropped too: the next pull fetches it.
      if (await exists(join(dir, file, "..", entry.dataFile))) index.putEntry(entry);
      else dropped++;
    }
    for (const f of records) await replayRecords(join(dir, f), f.slice("pushed-".length, -".jsonl".length), index);
    // The targets still hold what those records name for a dropped entry: without its record, a push keeps the
    // target's copy in the retention area before it replaces or deletes it (it may be the last copy).
    if (dropped > 0) index.deletePushRecordsWithoutEntries();
    index.putMeta(LEGACY_META, "cleanup");
  } catch (err) {
    index.close();
    await removeDatabase(tmp);
    throw err;
  }
  index.close();
  // Without the dropped entries staging no longer says what the source has: no push may delete or claim a recovery
  // point on it before the next complete pull (cleared before the index goes into place, so a kill keeps it so).
  if (dropped > 0) await clearPullMark(dir);
  killPoint("migration.after-tmp-commit");
  await fs.rename(tmp, target);
  killPoint("migration.after-rename");
  await finishCleanup(dir, target, options);
  return "migrated";
}

/** Removes what the old version kept once its rows are in the index, then notes that it is done. */
async function finishCleanup(dir: string, indexPath: string, options: IndexOptions): Promise<void> {
  const index = StagingIndex.open(indexPath, options);
  try {
    if (index.getMeta(LEGACY_META) !== "cleanup") return;
    for (const f of await fs.readdir(dir)) {
      if (f === "index.jsonl" || /^pushed-.+\.jsonl(\.tmp)?$/.test(f) || /^\.index\..*\.tmp$/.test(f)) await fs.rm(join(dir, f), { force: true });
    }
    for await (const file of manifestFiles(dir, true)) await fs.rm(join(dir, file), { force: true });
    // The old version's `dirty` marker is also the store's: left in place, it has the next open sweep data files
    // no row points to (what the old rebuild did for data files without a manifest).
    await fs.writeFile(join(dir, "dirty"), new Date().toISOString(), { mode: 0o600 });
    index.putMeta(LEGACY_META, "done");
  } finally {
    index.close();
  }
}

/** Manifests (`objects/ab/<key>.json`) relative to the container folder; with `withTmp`, killed atomic writes too. */
async function* manifestFiles(dir: string, withTmp = false): AsyncGenerator<string> {
  const objects = join(dir, "objects");
  for (const shard of await fs.readdir(objects).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const f of await fs.readdir(join(objects, shard))) {
      if ((f.endsWith(".json") && !f.startsWith(".")) || (withTmp && f.endsWith(".tmp"))) yield `objects/${shard}/${f}`;
    }
  }
}

async function readManifest(dir: string, file: string): Promise<StagedEntry> {
  let e: StagedEntry;
  try {
    e = JSON.parse(await fs.readFile(join(dir, file), "utf8")) as StagedEntry;
  } catch (err) {
    throw new MigrationError(join(dir, file), dir, `cannot be read as a manifest (${(err as Error).message})`);
  }
  const ok = e && typeof e === "object" && typeof e.name === "string" && typeof e.srcEtag === "string" && typeof e.dataFile === "string" &&
    typeof e.size === "number" && typeof e.kind === "string" && e.props && typeof e.props === "object" && e.metadata && typeof e.metadata === "object";
  if (!ok) throw new MigrationError(join(dir, file), dir, "is not a staged-blob manifest (expected name, srcEtag, size, kind, props, metadata, dataFile)");
  return e;
}

/** Replays `pushed-<target>.jsonl` as the old version read it: the last line per name wins, a torn line is skipped. */
async function replayRecords(path: string, target: string, index: StagingIndex): Promise<void> {
  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    let rec: { n?: unknown; s?: string; d?: string; m?: string };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // The last line of a killed run may be cut short; every line before it is whole.
    }
    if (typeof rec.n !== "string") continue;
    if (rec.s && rec.d) index.putPushRecord(target, rec.n, { srcEtag: rec.s, dstEtag: rec.d, ...(rec.m ? { md5: rec.m } : {}) });
    else index.deletePushRecord(target, rec.n);
  }
}

async function removeDatabase(file: string): Promise<void> {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) await fs.rm(f, { force: true });
}
