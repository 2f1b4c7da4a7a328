import { ContainerClient } from "@azure/storage-blob";
import { BlobKind, BlobProps, normalizeEtag, RemoteBlob } from "../model/blob";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isNotFound } from "../storage/errors";

/** When a listing began, by the service's clock and by ours. */
export interface ListingStart {
  /** The service's time at the first page, minus one second for the Date header's whole-second precision. */
  readonly serviceTime: Date;
  /** This machine's time when the first page arrived. */
  readonly localTime: Date;
}

export interface ListOptions {
  readonly side: string;
  readonly sasEnv: string;
  readonly signal?: AbortSignal;
  /** Called once, when the first page arrives. */
  readonly onStart?: (start: ListingStart) => void;
  /** Page size. @default 5000 */
  readonly pageSize?: number;
  /** What a missing container means: an error (a source) or an empty listing (a target we create). */
  readonly missing: "error" | "empty";
  /** Called when the container does not exist and `missing` is "empty". */
  readonly onMissing?: () => void;
  /** Only names that start with this. @default every blob */
  readonly prefix?: string;
}

/**
 * Lists every blob of a container with its properties and metadata, page by page. A missing, forbidden or
 * unreadable source container is an error, never an empty listing: mirroring an empty listing would delete
 * the DR copy.
 */
export async function* listBlobs(client: ContainerClient, container: string, opts: ListOptions): AsyncGenerator<RemoteBlob> {
  const pages = client.listBlobsFlat({ includeMetadata: true, prefix: opts.prefix }).byPage({ maxPageSize: opts.pageSize ?? 5000 });
  let first = true;
  for (;;) {
    if (opts.signal?.aborted) throw new FatalError(`listing of ${opts.side} container "${container}" was cancelled`);
    let res: IteratorResult<Awaited<ReturnType<typeof pages.next>>["value"]>;
    try {
      res = await pages.next();
    } catch (err) {
      if (isNotFound(err)) {
        if (opts.missing === "empty") {
          opts.onMissing?.();
          return;
        }
        throw new FatalError(`${opts.side} container "${container}" not found; nothing was copied or deleted for it`);
      }
      if (isAuthFailure(err)) {
        throw new FatalError(`${explainAuthFailure(opts.side, opts.sasEnv, `list container "${container}"`, err)}; nothing was copied or deleted for it`);
      }
      throw new FatalError(`${opts.side} container "${container}" could not be listed (${describeError(err)}); nothing was deleted for it`);
    }
    if (res.done) return;
    const page = res.value;
    if (first) {
      first = false;
      const local = new Date();
      const date = (page as { date?: Date }).date;
      opts.onStart?.({ serviceTime: new Date((date ? date.getTime() : local.getTime()) - 1000), localTime: local });
    }
    for (const item of page.segment.blobItems) yield toRemoteBlob(item);
  }
}

type ListedItem = { name: string; properties: Record<string, unknown>; metadata?: Record<string, string> };

export function toRemoteBlob(item: ListedItem): RemoteBlob {
  const p = item.properties as {
    etag?: string; contentLength?: number; lastModified?: Date; blobType?: string; contentType?: string;
    contentEncoding?: string; contentLanguage?: string; contentDisposition?: string; cacheControl?: string;
    contentMD5?: Uint8Array;
  };
  const props: BlobProps = prune({
    contentType: p.contentType || undefined,
    contentEncoding: p.contentEncoding || undefined,
    contentLanguage: p.contentLanguage || undefined,
    contentDisposition: p.contentDisposition || undefined,
    cacheControl: p.cacheControl || undefined,
    contentMD5: p.contentMD5 && p.contentMD5.length ? Buffer.from(p.contentMD5).toString("base64") : undefined,
  });
  return {
    name: item.name,
    etag: normalizeEtag(p.etag),
    size: p.contentLength ?? 0,
    lastModified: (p.lastModified ?? new Date(0)).toISOString(),
    kind: (p.blobType as BlobKind) ?? "BlockBlob",
    props,
    metadata: item.metadata ?? {},
  };
}

function prune<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
