/** The properties dr-sync carries from source to target, besides bytes and metadata. */
export interface BlobProps {
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
  readonly contentDisposition?: string;
  readonly cacheControl?: string;
  /** Base64 Content-MD5 as the service stores it; absent when the writer never set one. */
  readonly contentMD5?: string;
}

export type BlobKind = "BlockBlob" | "PageBlob" | "AppendBlob";

/** A blob as a listing shows it, on either side. */
export interface RemoteBlob {
  readonly name: string;
  readonly etag: string;
  readonly size: number;
  /** ISO time of the last change, from the service's clock. */
  readonly lastModified: string;
  readonly kind: BlobKind;
  readonly props: BlobProps;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * Someone holds a lease on it (the listing's LeaseState is leased or breaking): every write and delete without
   * that lease's ID fails, and dr-sync takes or breaks no one's lease. @default absent: not leased
   */
  readonly leased?: true;
}

/** What staging holds for one blob: the source version it was copied from, and where its bytes are. */
export interface StagedEntry {
  readonly name: string;
  /** ETag of the source version the staged bytes came from. */
  readonly srcEtag: string;
  readonly size: number;
  readonly lastModified: string;
  readonly kind: BlobKind;
  readonly props: BlobProps;
  readonly metadata: Readonly<Record<string, string>>;
  /** File name of the bytes inside the blob's staging folder. */
  readonly dataFile: string;
  /** Page blobs: the written ranges as [offset, length]; the rest of the file is a hole that reads as zeros. */
  readonly pageRanges?: readonly (readonly [number, number])[];
  /**
   * Base64 MD5 of the staged bytes as received (page blobs: of the written ranges), checked before every push so
   * a file damaged on disk is never replicated. Absent in manifests of versions before 0.2, which fall back to the
   * stored Content-MD5.
   */
  readonly stagedMd5?: string;
}

/**
 * The MD5 of each fixed-size range a block blob's staged bytes were received in, in order: the push sends those
 * ranges as its blocks with these MD5s, which the target service checks, so a large blob is not hashed again
 * before it is pushed and a file damaged on disk since is still refused.
 */
export interface RangeMd5s {
  /** Bytes per range; the last range may be shorter. */
  readonly rangeSize: number;
  /** Base64 MD5 of each range. */
  readonly md5s: readonly string[];
}

/** What the last successful push wrote for one blob: which staged version, and the ETag the target gave it. */
export interface PushRecord {
  readonly srcEtag: string;
  readonly dstEtag: string;
  /** MD5 of the bytes written (the staged MD5), so the mass-change guard can tell a content change from a metadata one. */
  readonly md5?: string;
}

/** ETags without the quotes some responses carry, so the listing's and an upload's ETag compare equal. */
export function normalizeEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

export const PROP_KEYS: readonly (keyof BlobProps)[] = [
  "contentType", "contentEncoding", "contentLanguage", "contentDisposition", "cacheControl", "contentMD5",
];

/** Differences in properties and metadata between two blobs, as human-readable phrases; empty when they match. */
export function describePropDifferences(a: { props: BlobProps; metadata: Readonly<Record<string, string>> },
  b: { props: BlobProps; metadata: Readonly<Record<string, string>> }): string[] {
  const out: string[] = [];
  for (const k of PROP_KEYS) {
    if ((a.props[k] ?? "") !== (b.props[k] ?? "")) out.push(`${k} ${JSON.stringify(a.props[k] ?? "")} != ${JSON.stringify(b.props[k] ?? "")}`);
  }
  const keys = new Set([...Object.keys(a.metadata), ...Object.keys(b.metadata)].map((k) => k.toLowerCase()));
  const am = lowerKeys(a.metadata);
  const bm = lowerKeys(b.metadata);
  for (const k of [...keys].sort()) {
    if (am[k] !== bm[k]) out.push(`metadata.${k} ${JSON.stringify(am[k] ?? null)} != ${JSON.stringify(bm[k] ?? null)}`);
  }
  return out;
}

function lowerKeys(m: Readonly<Record<string, string>>): Record<string, string> {
  // No prototype: a metadata key may be called __proto__.
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(m)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * A blob's stored Content-MD5, where it speaks for the bytes: only a block blob's. Put Page and Append Block never
 * update it, so a page or append blob's stays whatever its creation (or Set Blob Properties) said.
 */
export function storedMd5(blob: { readonly kind: BlobKind; readonly props: BlobProps }): string | undefined {
  return blob.kind === "BlockBlob" ? blob.props.contentMD5 : undefined;
}
