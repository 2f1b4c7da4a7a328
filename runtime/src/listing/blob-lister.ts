import { ContainerClient } from "@azure/storage-blob";
import { RemoteBlob } from "../model/blob";
import { FetchedListPage, fetchListPage } from "./list-page-request";
import { ListPageEnd } from "./list-xml";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isNotFound } from "../storage/errors";
import { ContainerPart, ownsName } from "../shard/part";
import { mergeScopedListing, TopLevelItem } from "./part-listing";

/**
 * Blobs asked for per List Blobs page. 1,000, not the service's maximum of 5,000: a page is held as text while it
 * is walked (~0.8 MB instead of ~4 MB, two per listing with the page asked for ahead), and the contract's plain
 * `node dr-sync.js run` peaked 20-34 MiB lower with it on 20,000 blobs (no-op 188-191 -> 167-171 MiB, full 255 ->
 * 221 MiB) at the same time per cycle; the extra round trips overlap the walk, since the next page is asked for
 * as soon as one arrives.
 */
export const LIST_PAGE_SIZE = 1000;

/** When a listing began, by the service's clock and by ours. */
export interface ListingStart {
  /**
   * A service time no later than the moment the first page's data was read: its Date header (whole seconds,
   * rounded down, stamped when the answer left) minus the whole round trip of that request. Every change made
   * before it is in the listing.
   */
  readonly serviceTime: Date;
  /** The first page's Date header. */
  readonly date: Date;
  /** This machine's time when the first page arrived. */
  readonly localTime: Date;
  /** `performance.now()` when the first page arrived: a clock no step of the wall clock moves. */
  readonly monotonicMs: number;
}

export interface ListOptions {
  readonly side: string;
  readonly sasEnv: string;
  readonly signal?: AbortSignal;
  /** Called once, when the first page arrives. */
  readonly onStart?: (start: ListingStart) => void;
  /** Page size. @default LIST_PAGE_SIZE (1,000) */
  readonly pageSize?: number;
  /** What a missing container means: an error (a source) or an empty listing (a target we create). */
  readonly missing: "error" | "empty";
  /** Called when the container does not exist and `missing` is "empty". */
  readonly onMissing?: () => void;
  /** Only names that start with this. @default every blob */
  readonly prefix?: string;
  /** Only this shard's part of the container: a split container is listed at its top level, then per owned prefix.
   *  @default the whole container */
  readonly part?: ContainerPart;
}

/**
 * Lists every blob of a container with its properties and metadata, page by page. A missing, forbidden or
 * unreadable source container is an error, never an empty listing: mirroring an empty listing would delete
 * the DR copy. Pages come from `fetchListPage` (the client's pipeline, our own one-pass parser).
 */
export async function* listBlobs(client: ContainerClient, container: string, opts: ListOptions): AsyncGenerator<RemoteBlob> {
  const part = opts.part;
  if (part?.kind === "none") throw new FatalError(`${opts.side} container "${container}" is not in this shard's part; it was not listed`);
  if (part?.kind === "prefixes" && !opts.prefix) {
    const underPrefix = (prefix: string) => listBlobs(client, container, { ...opts, part: undefined, prefix, onStart: undefined });
    yield* mergeScopedListing(topLevel(client, container, opts), underPrefix, (name) => ownsName(part, name));
    return;
  }
  // Each blob is read from the page's text as it is taken and let go of as it is given (list-xml.ts, listXmlBlobs).
  for await (const page of listPages(client, container, opts)) yield* blobsOf(page, container, opts);
}

/** A page's blobs as they are read: one found malformed partway fails the listing as one refused at once does. */
function* blobsOf(page: FetchedListPage, container: string, opts: ListOptions): Generator<RemoteBlob> {
  const it = page.blobs[Symbol.iterator]();
  for (;;) {
    let r: IteratorResult<RemoteBlob>;
    try {
      r = it.next();
    } catch (err) {
      throw unlisted(container, opts, err);
    }
    if (r.done) return;
    yield r.value;
  }
}

/** What a listing that could not be read means for the run: the container stops, and nothing is deleted for it. */
function unlisted(container: string, opts: ListOptions, err: unknown): FatalError {
  return new FatalError(`${opts.side} container "${container}" could not be listed (${describeError(err)}); nothing was deleted for it`);
}

/** The top level of a container (`delimiter=/`), page by page: its top-level blobs and its prefixes. */
async function* topLevel(client: ContainerClient, container: string, opts: ListOptions): AsyncGenerator<TopLevelItem[]> {
  for await (const page of listPages(client, container, opts, "/")) {
    const blobs = [...blobsOf(page, container, opts)].map((blob) => ({ blob }));
    yield [...blobs, ...(endOf(page, container, opts).prefixes ?? []).map((prefix) => ({ prefix }))];
  }
}

/**
 * What the first page tells of the service's clock. The data was read after the request left and before the
 * answer's Date was stamped: Date minus the round trip is never later than that read, however slow the page was.
 * The round trip is timed on the monotonic clock, so a wall-clock step during the request neither shortens it
 * (which would date the recovery point later than it is) nor stretches it.
 */
export function listingStart(date: Date | undefined, sentMonotonicMs: number, arrivedMonotonicMs: number, local: Date): ListingStart {
  const at = date ?? local;
  const roundTripMs = Math.max(0, arrivedMonotonicMs - sentMonotonicMs);
  return { serviceTime: new Date(at.getTime() - roundTripMs), date: at, localTime: local, monotonicMs: arrivedMonotonicMs };
}

/**
 * The pages of one listing (flat, or one level with `delimiter`), each checked against the signal first. The next
 * page is asked for as soon as one arrives (its marker read from the body's end), so the service builds it while
 * this one is walked. At most one page waits, so memory stays two pages per listing. The page fetched ahead is used
 * only if the walked page's own NextMarker is the marker it was asked with; otherwise the real marker is fetched.
 */
async function* listPages(client: ContainerClient, container: string, opts: ListOptions, delimiter?: string): AsyncGenerator<FetchedListPage> {
  // Ends a prefetch nobody will take: the consumer stopped early, or the listing failed.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const fetchPage = (marker: string | undefined): PageFetch => {
    const sentAt = performance.now();
    // Its own switch too: a page asked ahead and then dropped is cancelled at once, not when the listing ends.
    const own = new AbortController();
    const arrived = fetchListPage(client, { prefix: opts.prefix, delimiter, marker, maxResults: opts.pageSize ?? LIST_PAGE_SIZE, signal: AbortSignal.any([signal, own.signal]) })
      .then((page) => ({ page, sentAt, arrivedAt: performance.now() }));
    // Awaited only if taken; a prefetch left behind must not become an unhandled rejection.
    arrived.catch(() => undefined);
    return { marker, arrived, cancel: () => own.abort() };
  };
  let marker: string | undefined;
  let first = true;
  let ahead: PageFetch | undefined;
  // Markers asked for since the last page that held a blob or a prefix. A marker asked for twice is a listing that
  // does not advance; through pages with items that shows as names out of order (the march refuses it), through
  // empty pages only here. Cleared at each page with items, so it holds a run of empty pages, not the listing.
  const emptyRun = new Set<string>();
  try {
    do {
      if (opts.signal?.aborted) throw new FatalError(`listing of ${opts.side} container "${container}" was cancelled`);
      if (ahead && ahead.marker !== marker) ahead.cancel();
      const fetching = ahead && ahead.marker === marker ? ahead : fetchPage(marker);
      ahead = undefined;
      let got: ArrivedPage;
      try {
        got = await fetching.arrived;
      } catch (err) {
        if (opts.signal?.aborted) throw new FatalError(`listing of ${opts.side} container "${container}" was cancelled; nothing was deleted for it`);
        if (isNotFound(err)) {
          // Gone after a page was listed: what came before is not the container, so the listing did not end.
          if (!first) throw new FatalError(`${opts.side} container "${container}" was not found part way through its listing; nothing was copied or deleted for it`);
          if (opts.missing === "empty") {
            opts.onMissing?.();
            return;
          }
          throw new FatalError(`${opts.side} container "${container}" not found; nothing was copied or deleted for it`);
        }
        if (isAuthFailure(err)) {
          throw new FatalError(`${explainAuthFailure(opts.side, opts.sasEnv, `list container "${container}"`, err)}; nothing was copied or deleted for it`);
        }
        throw unlisted(container, opts, err);
      }
      const { page } = got;
      if (first) {
        first = false;
        opts.onStart?.(listingStart(page.date, got.sentAt, got.arrivedAt, new Date()));
      }
      // Not for a marker the page was asked with: that listing is refused below, not fetched again.
      if (page.nextMarkerHint && page.nextMarkerHint !== marker) ahead = fetchPage(page.nextMarkerHint);
      const watched = watchedForItems(page);
      yield watched.page;
      const end = endOf(page, container, opts);
      const next = end.nextMarker;
      // A service that answers the same marker again would be listed forever.
      if (next && next === marker) throw unlisted(container, opts, new Error(`the service gave back the marker it was asked with; the listing does not advance`));
      if (watched.held() || end.prefixes?.length) emptyRun.clear();
      else if (marker !== undefined) emptyRun.add(marker);
      if (next && emptyRun.has(next)) throw unlisted(container, opts, new Error(`the service's empty pages lead back to a marker already asked for; the listing does not advance`));
      marker = next;
    } while (marker);
  } finally {
    stop.abort();
  }
}

/** The page as given to the consumer, and whether any blob was taken from it. */
function watchedForItems(page: FetchedListPage): { page: FetchedListPage; held: () => boolean } {
  let held = false;
  const blobs: Iterable<RemoteBlob> = {
    [Symbol.iterator]: () => {
      const it = page.blobs[Symbol.iterator]();
      return {
        next: () => {
          const r = it.next();
          if (!r.done) held = true;
          return r;
        },
      };
    },
  };
  return { page: { date: page.date, nextMarkerHint: page.nextMarkerHint, blobs, end: () => page.end() }, held: () => held };
}

/** A page asked for, and the marker it was asked with. */
interface PageFetch {
  readonly marker: string | undefined;
  readonly arrived: Promise<ArrivedPage>;
  /** Cancels this request alone (the page was asked ahead on a hint the walked page contradicted). */
  readonly cancel: () => void;
}

/** A page as it arrived, with its request's round trip on the monotonic clock (for `listingStart`). */
interface ArrivedPage {
  readonly page: FetchedListPage;
  readonly sentAt: number;
  readonly arrivedAt: number;
}

/** What follows a page's blobs (its NextMarker, its prefixes), read past any blob not taken. */
function endOf(page: FetchedListPage, container: string, opts: ListOptions): ListPageEnd {
  try {
    return page.end();
  } catch (err) {
    throw unlisted(container, opts, err);
  }
}

/**
 * One blob as a listing shows it now, or undefined when there is none: a listing keeps metadata keys' case and
 * gives every property in the same form as the container's listing, where a HEAD does not.
 */
export async function listOne(client: ContainerClient, container: string, name: string, opts: Omit<ListOptions, "prefix" | "onStart" | "part">): Promise<RemoteBlob | undefined> {
  for await (const b of listBlobs(client, container, { ...opts, prefix: name })) {
    if (b.name === name) return b;
  }
  return undefined;
}
