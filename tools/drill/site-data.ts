import { createHash } from "node:crypto";
import { BlobProps, PROP_KEYS } from "../../runtime/src/model/blob";
import { SiteClient } from "../../runtime/src/storage/site-client";
import { SampleBlob, SampleSet, sha256 } from "./sample-data";

/** One blob as a reader sees it: everything replication must carry, bytes as a hash. */
export interface BlobView {
  readonly size: number;
  readonly sha256: string;
  /** Content-MD5 (base64) is set by the service for single-request uploads, by the writer otherwise. */
  readonly props: BlobProps;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Container → blob name → view. */
export type SiteView = Map<string, Map<string, BlobView>>;

const MiB = 1024 * 1024;
/** Blobs above this go up in 4 MiB blocks, as SDKs and AzCopy send large files. */
const SINGLE_SHOT_MAX = 4 * MiB;

/** A SAS client for one local site, through its gateway, pinned to the runtime's API version. */
export function siteClient(blobEndpoint: string, sas: string, name: string, maxTries = 3): SiteClient {
  return new SiteClient({ blobEndpoint, sasEnv: "DRILL_UNUSED", name }, sas, {
    apiVersion: "2017-11-09",
    retry: { maxTries, retryDelayMs: 200, maxRetryDelayMs: 2000, tryTimeoutSeconds: 60 },
  });
}

/** Writes a sample blob with its properties and metadata; large ones as blocks with a writer-set Content-MD5. */
export async function putBlob(site: SiteClient, container: string, b: SampleBlob): Promise<void> {
  const p = b.props;
  const headers = {
    blobContentType: p.contentType, blobContentEncoding: p.contentEncoding, blobContentLanguage: p.contentLanguage,
    blobContentDisposition: p.contentDisposition, blobCacheControl: p.cacheControl,
  };
  const client = site.blob(container, b.name);
  if (b.body.length <= SINGLE_SHOT_MAX) {
    await client.upload(b.body, b.body.length, { blobHTTPHeaders: headers, metadata: { ...b.metadata } });
    return;
  }
  await client.uploadData(b.body, {
    blockSize: SINGLE_SHOT_MAX, maxSingleShotSize: SINGLE_SHOT_MAX, concurrency: 4, metadata: { ...b.metadata },
    blobHTTPHeaders: { ...headers, blobContentMD5: createHash("md5").update(b.body).digest() },
  });
}

export async function ensureContainers(site: SiteClient, containers: readonly string[]): Promise<void> {
  for (const c of containers) {
    await site.container(c).create().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err;
    });
  }
}

/** Runs writes eight at a time. */
export async function forEachParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** Reads whole containers (bytes included) into views; a missing container reads as empty. */
export async function readSite(site: SiteClient, containers: readonly string[]): Promise<SiteView> {
  const out: SiteView = new Map();
  for (const container of containers) {
    const blobs = new Map<string, BlobView>();
    out.set(container, blobs);
    const cc = site.container(container);
    if (!(await cc.exists())) continue;
    const items: { name: string; view: Omit<BlobView, "sha256"> }[] = [];
    for await (const item of cc.listBlobsFlat({ includeMetadata: true })) {
      const p = item.properties;
      items.push({
        name: item.name,
        view: {
          size: p.contentLength ?? 0,
          props: {
            contentType: p.contentType || undefined, contentEncoding: p.contentEncoding || undefined,
            contentLanguage: p.contentLanguage || undefined, contentDisposition: p.contentDisposition || undefined,
            cacheControl: p.cacheControl || undefined, contentMD5: p.contentMD5 ? Buffer.from(p.contentMD5).toString("base64") : undefined,
          },
          metadata: item.metadata ?? {},
        },
      });
    }
    await forEachParallel(items, async ({ name, view }) => {
      const body = view.size ? await site.blob(container, name).downloadToBuffer() : Buffer.alloc(0);
      blobs.set(name, { ...view, sha256: sha256(body) });
    });
  }
  return out;
}

/** The view a reader should get of a sample blob (its Content-MD5 depends on how it was uploaded, so none). */
export function expectedView(b: SampleBlob): BlobView {
  return { size: b.body.length, sha256: sha256(b.body), props: b.props, metadata: b.metadata };
}

/** The views a reader should get of a whole sample set. */
export function expectedSite(set: SampleSet): SiteView {
  return new Map([...set].map(([c, blobs]) => [c, new Map([...blobs].map(([n, b]) => [n, expectedView(b)]))]));
}

/**
 * Differences between two views of one blob, as phrases. `contentMD5` is compared only when the expected view
 * has one; metadata names compare case-insensitively, as the service treats them.
 */
export function compareBlob(expected: BlobView, actual: BlobView): string[] {
  const out: string[] = [];
  const differs = (what: string, want: unknown, got: unknown) => {
    if ((want ?? "") !== (got ?? "")) out.push(`${what} ${JSON.stringify(got ?? null)}, expected ${JSON.stringify(want ?? null)}`);
  };
  differs("size", expected.size, actual.size);
  differs("sha256", expected.sha256, actual.sha256);
  for (const k of PROP_KEYS) if (k !== "contentMD5" || expected.props.contentMD5 !== undefined) differs(k, expected.props[k], actual.props[k]);
  const lower = (m: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
  const [em, am] = [lower(expected.metadata), lower(actual.metadata)];
  for (const k of [...new Set([...Object.keys(em), ...Object.keys(am)])].sort()) {
    if (em[k] !== am[k]) out.push(`metadata.${k} ${JSON.stringify(am[k] ?? null)}, expected ${JSON.stringify(em[k] ?? null)}`);
  }
  return out;
}

/** Every difference between two whole sites (or a site and the drill's expectation), `container/name: problem`. */
export function compareSites(expected: SiteView, actual: SiteView): string[] {
  const out: string[] = [];
  for (const [container, want] of expected) {
    const got = actual.get(container) ?? new Map<string, BlobView>();
    for (const [name, e] of want) {
      const a = got.get(name);
      if (!a) out.push(`${container}/${name}: missing`);
      else out.push(...compareBlob(e, a).map((p) => `${container}/${name}: ${p}`));
    }
    for (const name of got.keys()) if (!want.has(name)) out.push(`${container}/${name}: unexpected (not in the expected set)`);
  }
  return out;
}

/** Counts and bytes of a view, for the report. */
export function measure(view: SiteView): { blobs: number; bytes: number; withMetadata: number; contentTypes: number } {
  let blobs = 0;
  let bytes = 0;
  let withMetadata = 0;
  const types = new Set<string>();
  for (const c of view.values()) {
    for (const b of c.values()) {
      blobs++;
      bytes += b.size;
      if (Object.keys(b.metadata).length) withMetadata++;
      if (b.props.contentType) types.add(b.props.contentType);
    }
  }
  return { blobs, bytes, withMetadata, contentTypes: types.size };
}
