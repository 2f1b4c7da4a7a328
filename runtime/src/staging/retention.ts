import { Dir, promises as fs } from "node:fs";
import { join } from "node:path";
import { StagedEntry } from "../model/blob";
import { ensurePrivateDir, exists, writeFileAtomic } from "./atomic-file";
import { objectKey } from "./object-path";

/** Why a copy was kept. */
export type RetentionReason =
  | "deleted at source"
  | "overwritten by a newer source version"
  | "destination copy deleted"
  | "destination copy overwritten"
  | "replaced by a restore"
  | "moved to another shard";

/** A retained copy, as `retention list` shows it. */
export interface RetainedCopy {
  readonly day: string;
  readonly site: string;
  readonly container: string;
  readonly name: string;
  readonly reason: RetentionReason;
  readonly retainedAt: string;
  readonly size: number;
  readonly srcEtag: string;
  /** Absolute paths of the bytes and the manifest. */
  readonly dataPath: string;
  readonly manifestPath: string;
  readonly entry: StagedEntry;
}

/**
 * The retention area: `<stagingDir>/retention/<day>/<site>/<container>/`. A staged copy that a run is about to
 * delete or overwrite is hard-linked here first (same file system, no copying), with its manifest, so an
 * operator can restore it for `retentionDays` days.
 */
export class RetentionArea {
  readonly root: string;

  /**
   * @param clock the service's clock, by which copies are filed and purged. @default this machine's clock
   * @param onMissing told of a staged copy that was to be kept but whose data file is gone from the staging disk.
   *   @default nothing is told
   */
  constructor(stagingDir: string, private readonly clock: () => Date = () => new Date(),
    private readonly onMissing: (site: string, container: string, entry: StagedEntry, dataPath: string, reason: RetentionReason) => void = () => undefined) {
    this.root = join(stagingDir, "retention");
  }

  /**
   * Keeps `dataPath`'s bytes (by hard link, or copy across file systems) with the entry's manifest. A data file
   * that is gone (removed by hand, lost with the disk) has nothing to keep: `onMissing` is told, nothing is placed,
   * and undefined is returned, so a blob deleted or changed at the source still leaves staging instead of
   * stopping its container on every run.
   */
  async keep(site: string, container: string, entry: StagedEntry, dataPath: string, reason: RetentionReason): Promise<string | undefined> {
    try {
      await fs.access(dataPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      this.onMissing(site, container, entry, dataPath, reason);
      return undefined;
    }
    return this.place(site, container, entry, reason, async (target) => {
      try {
        await fs.link(dataPath, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EXDEV" && (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
        await fs.copyFile(dataPath, target);
      }
    });
  }

  /** Keeps bytes that are already in a file the caller wrote for this purpose (moved, not linked). */
  async keepMoved(site: string, container: string, entry: StagedEntry, tmpPath: string, reason: RetentionReason): Promise<string> {
    return this.place(site, container, entry, reason, (target) => fs.rename(tmpPath, target));
  }

  /** Puts the bytes in place with `put`, then the manifest beside them: a copy without its manifest is not listed. */
  private async place(site: string, container: string, entry: StagedEntry, reason: RetentionReason, put: (target: string) => Promise<void>): Promise<string> {
    const { dir, stem, at } = await this.freeSlot(site, container, entry.name, this.clock().getTime());
    const target = join(dir, `${stem}.bin`);
    // Bytes without a manifest are what a crash left between the two: never listed, so replaced.
    await fs.rm(target, { force: true });
    await put(target);
    await writeFileAtomic(join(dir, `${stem}.json`), JSON.stringify({ reason, retainedAt: at.toISOString(), entry }) + "\n");
    return target;
  }

  /**
   * The first millisecond from `ms` at which no copy of `name` is kept yet. The service's clock has the Date
   * header's one-second grain, so two runs within one second can keep the same blob at the same instant; the later
   * copy goes one millisecond after, instead of over the earlier one, and `retainedAt` stays unique per blob (what
   * `restore --retained-at` picks by).
   */
  private async freeSlot(site: string, container: string, name: string, ms: number): Promise<{ dir: string; stem: string; at: Date }> {
    for (;; ms++) {
      const at = new Date(ms);
      const dir = join(this.root, at.toISOString().slice(0, 10), site, container);
      await ensurePrivateDir(dir);
      const stem = `${objectKey(name)}.${ms}`;
      if (!(await exists(join(dir, `${stem}.json`)))) return { dir, stem, at };
    }
  }

  /**
   * Every retained copy, optionally of one container or one blob name, in no particular order, its manifests read a
   * batch at a time (each folder is streamed, never read whole): a mass deletion kept can be millions of copies.
   */
  async *copies(filter: { container?: string; name?: string } = {}): AsyncGenerator<RetainedCopy> {
    for (const day of await readdirSafe(this.root)) {
      for (const site of await readdirSafe(join(this.root, day))) {
        for (const container of await readdirSafe(join(this.root, day, site))) {
          if (filter.container && filter.container !== container) continue;
          const dir = join(this.root, day, site, container);
          let files: Dir;
          try {
            files = await fs.opendir(dir, { bufferSize: 256 });
          } catch {
            continue;
          }
          // Manifests are read a batch at a time, all of a batch at once: one after the other, the reads were
          // most of the listing's time, and a batch bounds what is held.
          let batch: string[] = [];
          const readBatch = async () => {
            const read = await Promise.all(batch.map((f) => readManifest(join(dir, f))));
            batch = [];
            return read;
          };
          for await (const f of files) {
            if (!f.name.endsWith(".json")) continue;
            batch.push(f.name);
            if (batch.length < MANIFEST_BATCH) continue;
            for (const c of await readBatch()) if (c && (filter.name === undefined || c.name === filter.name)) yield { day, site, container, ...c };
          }
          for (const c of await readBatch()) if (c && (filter.name === undefined || c.name === filter.name)) yield { day, site, container, ...c };
        }
      }
    }
  }

  /** The retained copies of one blob, newest first (what `restore --blob` picks from). */
  async list(filter: { container?: string; name: string }): Promise<RetainedCopy[]> {
    const out: RetainedCopy[] = [];
    for await (const c of this.copies(filter)) out.push(c);
    return out.sort((a, b) => b.retainedAt.localeCompare(a.retainedAt));
  }

  /** Removes day folders older than `days` before `now`; returns how many were removed. */
  async purge(days: number, now: Date = this.clock()): Promise<number> {
    const cutoff = new Date(now.getTime() - days * 86400000).toISOString().slice(0, 10);
    let removed = 0;
    for (const day of await readdirSafe(this.root)) {
      if (/^\d{4}-\d{2}-\d{2}$/.test(day) && day < cutoff) {
        await fs.rm(join(this.root, day), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
}

/** Manifests read at once by `copies`. */
const MANIFEST_BATCH = 64;

/** A manifest's copy, or undefined for a manifest cut short by a crash (it has no complete copy behind it; the bytes
 *  stay for a person to look at). */
async function readManifest(manifestPath: string): Promise<Omit<RetainedCopy, "day" | "site" | "container"> | undefined> {
  let m: { reason: RetentionReason; retainedAt: string; entry: StagedEntry };
  try {
    m = JSON.parse(await fs.readFile(manifestPath, "utf8"));
  } catch {
    return undefined;
  }
  // Valid JSON of another shape (not ours, or damaged into it) is passed over like a manifest cut short.
  if (typeof m?.retainedAt !== "string" || typeof m.entry?.name !== "string") return undefined;
  return {
    name: m.entry.name, reason: m.reason, retainedAt: m.retainedAt, size: m.entry.size, srcEtag: m.entry.srcEtag,
    dataPath: manifestPath.replace(/\.json$/, ".bin"), manifestPath, entry: m.entry,
  };
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
