import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { feedHashes } from "./file-hash";
import { HASH_READ_SIZE } from "./hash-worker";

/**
 * The MD5 of a file written in fixed-size ranges that land in any order, taken in file order while the rest are
 * still arriving: each range is read back (from the page cache) once every range before it has landed. When the
 * last range lands, only the few behind it are left to hash, instead of the whole file being read and hashed
 * after the download (for a 64 MiB blob that pass was ~150 ms between its last range and its commit).
 */
export class OrderedFileMd5 {
  private readonly hash = createHash("md5");
  private readonly landed: boolean[] = [];
  private next = 0;
  private running?: Promise<void>;
  private buf?: Buffer;

  /** `fh` must be open for reading; ranges are `rangeSize` bytes but the last, `count` of them in all. */
  constructor(private readonly fh: FileHandle, private readonly size: number, private readonly rangeSize: number, private readonly count: number) {}

  /** Range `index` is on disk whole; resolves once every range up to the last contiguous one is hashed. */
  landedRange(index: number): Promise<void> {
    this.landed[index] = true;
    // Started on a later tick, so the loop's own ending (which clears `running`) always comes after this assignment.
    this.running ??= Promise.resolve().then(() => this.catchUp());
    return this.running;
  }

  /** The base64 MD5 of the whole file; every range must have landed. */
  async digest(): Promise<string> {
    await this.running;
    if (this.next !== this.count) throw new Error(`only ${this.next} of ${this.count} ranges were hashed`);
    return this.hash.digest("base64");
  }

  private async catchUp(): Promise<void> {
    while (this.landed[this.next]) {
      const start = this.next * this.rangeSize;
      const end = Math.min(start + this.rangeSize, this.size);
      this.buf ??= Buffer.allocUnsafeSlow(Math.min(HASH_READ_SIZE, this.size));
      const fed = await feedHashes(this.fh, this.buf, start, end - start, [this.hash]);
      if (fed !== end - start) throw new Error(`range at offset ${start} is short on disk: ${fed} of ${end - start} bytes`);
      this.next++;
    }
    // No await between the loop's last check and this: a range landing now starts a new loop.
    this.running = undefined;
  }
}
