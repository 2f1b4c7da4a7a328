import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * MD5s of large staged files on worker threads. Hashing runs on the thread that calls `update`: on the main thread
 * every byte of a large blob is hashed there (once staged, once more before the push), which held the event loop
 * for ~0.75 s between the pull of two 64 MiB blobs and their push, the transfers of everything else waiting
 * behind it. A worker reads the file itself, so the bytes never cross threads.
 */

/** One hashing job: the MD5 of `ranges` of the file, in order, and with `blockSize`, of each block of the first range. */
export interface HashJob {
  readonly path: string;
  readonly ranges: readonly (readonly [number, number])[];
  /** Also the MD5 of each `blockSize` block of `ranges[0]` (a block list's own MD5s). @default none */
  readonly blockSize?: number;
}

export interface HashResult {
  readonly whole: string;
  readonly blocks: string[];
}

/** Bytes read per call when a staged file is hashed, here or on the caller's thread: one buffer per file, reused. */
export const HASH_READ_SIZE = 1 << 20;

/** The worker's code: self-contained, so the bundle stays one file. Synchronous reads are fine on its own thread. */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const buf = Buffer.allocUnsafeSlow(${HASH_READ_SIZE});
parentPort.on("message", ({ path, ranges, blockSize }) => {
  let fd;
  try {
    fd = fs.openSync(path, "r");
    const whole = createHash("md5");
    const blocks = [];
    const feed = (start, len, hashes) => {
      let pos = start;
      const end = start + len;
      while (pos < end) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
        if (n === 0) break;
        for (const h of hashes) h.update(buf.subarray(0, n));
        pos += n;
      }
    };
    if (blockSize) {
      const [start, size] = ranges[0] || [0, 0];
      for (let off = 0; off < size; off += blockSize) {
        const block = createHash("md5");
        feed(start + off, Math.min(blockSize, size - off), [whole, block]);
        blocks.push(block.digest("base64"));
      }
    } else {
      for (const [off, len] of ranges) if (len > 0) feed(off, len, [whole]);
    }
    parentPort.postMessage({ whole: whole.digest("base64"), blocks });
  } catch (err) {
    parentPort.postMessage({ error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall, path: err && err.path } });
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
  }
});
`;

/**
 * A small pool of hashing threads, started on first use and let go when idle (an idle worker does not keep the
 * process alive). At most one less than the machine's cores, and at most 2: the transfers need the rest. A job
 * never waits for a busy worker: when none is free (or none can start) the caller hashes on its own thread, as
 * before, so a huge blob's hash never holds the others back.
 */
class HashPool {
  private readonly idle: Worker[] = [];
  private started = 0;
  private broken = false;
  private readonly max = Math.max(1, Math.min(2, availableParallelism() - 1));

  /** Runs `job` on a free worker, or returns undefined when there is none. */
  tryRun(job: HashJob): Promise<HashResult> | undefined {
    const worker = this.idle.pop() ?? this.start();
    if (!worker) return undefined;
    return new Promise<HashResult>((resolve, reject) => {
      worker.ref();
      const settle = (fn: () => void, keep: boolean) => {
        worker.off("message", onMessage);
        worker.off("error", onGone);
        worker.off("exit", onGone);
        if (keep) {
          worker.unref();
          this.idle.push(worker);
        } else {
          this.started--;
        }
        fn();
      };
      const onMessage = (m: { whole: string; blocks: string[] } | { error: { message: string; code?: string; syscall?: string; path?: string } }) => {
        if ("error" in m) settle(() => reject(Object.assign(new Error(m.error.message), { code: m.error.code, syscall: m.error.syscall, path: m.error.path })), true);
        else settle(() => resolve({ whole: m.whole, blocks: m.blocks }), true);
      };
      // A worker that died (or exited) takes its job with it; the next job starts another.
      const onGone = (err?: unknown) => settle(() => reject(err instanceof Error ? err : new Error("the hashing thread exited")), false);
      worker.on("message", onMessage);
      worker.on("error", onGone);
      worker.on("exit", onGone);
      worker.postMessage(job);
    });
  }

  private start(): Worker | undefined {
    if (this.broken || this.started >= this.max) return undefined;
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, stdout: false, stderr: false });
    } catch {
      // Threads cannot start here (resource limits): hash on the caller's thread from now on.
      this.broken = true;
      return undefined;
    }
    worker.unref();
    this.started++;
    return worker;
  }
}

let pool: HashPool | undefined;

/**
 * Runs `job` on a hashing thread if one is free, or returns undefined (hash on this thread then). Rejects with the
 * file system's error (its `code` kept) as the in-thread read would.
 */
export function tryHashOnWorker(job: HashJob): Promise<HashResult> | undefined {
  pool ??= new HashPool();
  return pool.tryRun(job);
}

/** Files at least this large are hashed on a worker thread; below it the hand-off costs more than it frees. */
export const WORKER_HASH_MIN_BYTES = 8 * 1024 * 1024;
