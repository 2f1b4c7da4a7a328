import { compareNames } from "../index/blob-name";
import { RemoteBlob } from "../model/blob";
import { FatalError } from "../storage/errors";

/** One entry of a delimiter listing's top level: a blob without the delimiter in its name, or a `prefix/`. */
export type TopLevelItem = { readonly blob: RemoteBlob; readonly prefix?: undefined } | { readonly prefix: string; readonly blob?: undefined };

const keyOf = (item: TopLevelItem): string => item.prefix ?? item.blob!.name;

/**
 * One shard's listing of a split container, as one stream in the service's name order: the top level (pages of a
 * `delimiter=/` listing) walked in order, each owned top-level blob given as it is and each owned `prefix/`
 * expanded by a listing with `prefix=` in its place. That is the service's order because all the names under
 * `p/` sort after `p/` and before the next top-level entry (nothing between them lacks the `p/` start). A page
 * is sorted in itself (a service may give its blobs and prefixes as two runs), and a page that starts before the
 * previous one ended stops the listing: a shard never takes a listing it cannot vouch for as complete.
 */
export async function* mergeScopedListing(pages: AsyncIterable<TopLevelItem[]>, underPrefix: (prefix: string) => AsyncIterable<RemoteBlob>,
  owns: (name: string) => boolean): AsyncGenerator<RemoteBlob> {
  let last: string | undefined;
  for await (const page of pages) {
    const items = [...page].sort((a, b) => compareNames(keyOf(a), keyOf(b)));
    for (const item of items) {
      const key = keyOf(item);
      if (last !== undefined && compareNames(key, last) <= 0) {
        throw new FatalError(`the top-level listing came out of order ("${key}" after "${last}"); nothing was deleted for this container`);
      }
      last = key;
      if (!owns(key)) continue;
      if (item.blob) yield item.blob;
      else {
        // Names under a prefix share its owner, except scratch blobs, which each belong to the shard that wrote them.
        for await (const blob of underPrefix(item.prefix!)) if (owns(blob.name)) yield blob;
      }
    }
  }
}
