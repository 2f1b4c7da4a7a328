import { compareNames } from "../index/blob-name";
import { FatalError } from "../storage/errors";

/** A listing (or the index) gave a name not after the one before: walking on would misread blobs as deleted. */
export class OutOfOrderListingError extends FatalError {
  constructor(readonly side: "source" | "destination", readonly previous: string, readonly next: string) {
    super(`the ${side} listing is out of order: ${JSON.stringify(next)} came after ${JSON.stringify(previous)}; nothing was deleted`);
    this.name = "OutOfOrderListingError";
  }
}

/** What the marcher calls for each name, in listing order; a callback may return a promise, which is awaited. */
export interface MarchCallbacks<S, D> {
  /** The name is only in the source listing. */
  srcOnly(src: S): void | Promise<void>;
  /** The name is only at the destination (the index): a deletion candidate. */
  dstOnly(dst: D): void | Promise<void>;
  /** The name is on both sides. */
  match(src: S, dst: D): void | Promise<void>;
}

export interface MarchCounts {
  readonly srcOnly: number;
  readonly dstOnly: number;
  readonly match: number;
}

/**
 * Walks two name-ordered sequences in step, as rclone's fs/march does, and calls one callback per name. Both
 * sides must be strictly ascending in the service's listing order (`compareNames`); a name that is not after
 * the previous one on its side throws `OutOfOrderListingError` before that name is acted on, so a listing that
 * went wrong is never read as deletions. The callbacks see every name of both sides exactly once.
 */
export async function march<S extends { readonly name: string }, D extends { readonly name: string }>(
  source: AsyncIterable<S> | Iterable<S>, destination: AsyncIterable<D> | Iterable<D>, cb: MarchCallbacks<S, D>,
): Promise<MarchCounts> {
  const src = new Side("source", source);
  const dst = new Side("destination", destination);
  const counts = { srcOnly: 0, dstOnly: 0, match: 0 };
  try {
    return await walkInStep(src, dst, cb, counts);
  } finally {
    // A walk that stopped early (a callback threw, a side went out of order) closes both listings, so a page asked
    // for ahead is cancelled now instead of running its retries after the run failed.
    src.close();
    dst.close();
  }
}

async function walkInStep<S extends { readonly name: string }, D extends { readonly name: string }>(
  src: Side<S>, dst: Side<D>, cb: MarchCallbacks<S, D>, counts: { srcOnly: number; dstOnly: number; match: number },
): Promise<MarchCounts> {
  let s = await src.next();
  let d = await dst.next();
  // Synchronous sides and callbacks are never awaited: at millions of names a promise per step is the walk's
  // largest cost.
  while (s !== undefined || d !== undefined) {
    const c = s === undefined ? 1 : d === undefined ? -1 : compareNames(s.name, d.name);
    let done: void | Promise<void>;
    if (c < 0) {
      const v = s as S;
      s = src.nextSync() ?? await src.next();
      counts.srcOnly++;
      done = cb.srcOnly(v);
    } else if (c > 0) {
      const v = d as D;
      // Only a candidate: the caller acts on deletions after the whole walk, so a listing that goes out of order
      // later still stops the container with nothing deleted.
      d = dst.nextSync() ?? await dst.next();
      counts.dstOnly++;
      done = cb.dstOnly(v);
    } else {
      const a = s as S;
      const b = d as D;
      s = src.nextSync() ?? await src.next();
      d = dst.nextSync() ?? await dst.next();
      counts.match++;
      done = cb.match(a, b);
    }
    if (done !== undefined) await done;
  }
  return counts;
}

/** One side of the walk: its items in order, checked as they come; `undefined` once it is exhausted. */
class Side<T extends { readonly name: string }> {
  private readonly sync?: Iterator<T>;
  private readonly async?: AsyncIterator<T>;
  private previous: string | undefined;
  private ended = false;

  constructor(private readonly side: "source" | "destination", items: AsyncIterable<T> | Iterable<T>) {
    if (Symbol.iterator in items) this.sync = items[Symbol.iterator]();
    else this.async = items[Symbol.asyncIterator]();
  }

  /** The next item of a synchronous side without a promise; null (never undefined) when the side is asynchronous. */
  nextSync(): T | undefined | null {
    if (!this.sync) return null;
    if (this.ended) return undefined;
    const r = this.sync.next();
    return r.done ? this.end() : this.check(r.value);
  }

  async next(): Promise<T | undefined> {
    if (this.ended) return undefined;
    if (this.sync) return this.nextSync() as T | undefined;
    const r = await this.async!.next();
    return r.done ? this.end() : this.check(r.value);
  }

  private end(): undefined {
    this.ended = true;
    return undefined;
  }

  /** Ends the side's iterator if it has not ended by itself (not awaited: a pending page is abandoned, not waited for). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.sync) this.sync.return?.();
    else this.async!.return?.()?.catch(() => undefined);
  }

  private check(item: T): T {
    if (this.previous !== undefined && compareNames(item.name, this.previous) <= 0) throw new OutOfOrderListingError(this.side, this.previous, item.name);
    this.previous = item.name;
    return item;
  }
}
