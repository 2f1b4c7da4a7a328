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
  const src = ordered("source", source);
  const dst = ordered("destination", destination);
  const counts = { srcOnly: 0, dstOnly: 0, match: 0 };
  let s = await src.next();
  let d = await dst.next();
  while (!s.done || !d.done) {
    const c = s.done ? 1 : d.done ? -1 : compareNames(s.value.name, d.value.name);
    if (c < 0) {
      const v = s.value as S;
      s = await src.next();
      counts.srcOnly++;
      await cb.srcOnly(v);
    } else if (c > 0) {
      const v = d.value as D;
      // Only a candidate: the caller acts on deletions after the whole walk, so a listing that goes out of order
      // later still stops the container with nothing deleted.
      d = await dst.next();
      counts.dstOnly++;
      await cb.dstOnly(v);
    } else {
      const a = s.value as S;
      const b = d.value as D;
      s = await src.next();
      d = await dst.next();
      counts.match++;
      await cb.match(a, b);
    }
  }
  return counts;
}

async function* ordered<T extends { readonly name: string }>(side: "source" | "destination", items: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  let previous: string | undefined;
  for await (const item of items) {
    if (previous !== undefined && compareNames(item.name, previous) <= 0) throw new OutOfOrderListingError(side, previous, item.name);
    previous = item.name;
    yield item;
  }
}
