import { createReadStream, createWriteStream, promises as fs, WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { PushRecord } from "../model/blob";
import { exists } from "../staging/atomic-file";

/**
 * What each blob's last successful push wrote: the staged version (source ETag) and the ETag the target gave it.
 * Kept beside the staged container as `pushed-<target>.jsonl`: a snapshot followed by one appended line per
 * upload or delete, so a run killed mid-push still remembers every blob it finished. `compact()` rewrites it.
 */
export class PushRecords {
  private readonly records = new Map<string, PushRecord>();
  private journal?: WriteStream;
  /** Lines appended since the file was last compacted (by this or an earlier, killed run). */
  private appended = 0;

  private constructor(private readonly path: string) {}

  static async open(containerDir: string, targetSite: string): Promise<PushRecords> {
    const r = new PushRecords(join(containerDir, `pushed-${targetSite}.jsonl`));
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
