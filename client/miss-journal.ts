import { failureOf } from "./service-failure";
import { SitePipeline } from "./site-pipeline";

/** The journal's folder in the fence container: one append blob per UTC hour. */
export const MISS_JOURNAL_PREFIX = "dual-write-misses/";

/**
 * One line of the miss journal (JSON Lines, UTF-8, one Append Block per line): a write to a synchronous container
 * that landed at the active site only ("best-effort" mode). dr-sync reads these at the active site, which is its
 * reading side, and replicates the named blobs.
 */
export interface MissRecord {
  /** Format version. */
  readonly v: 1;
  /** When the client gave up on the other site (ISO 8601, the client's clock). */
  readonly at: string;
  /** The site that has the write: the active one, where this journal is. */
  readonly written: string;
  /** The site the write did not reach. */
  readonly missed: string;
  readonly container: string;
  /** Absent for container-level operations. */
  readonly blob?: string;
  /** "put blob", "put block list", "set blob metadata", "delete blob", ... */
  readonly operation: string;
  /** Why: HTTP status and error code, or the network error code. Never a URL. */
  readonly failure: { readonly statusCode?: number; readonly code?: string };
}

/** The journal blob for a moment: `dual-write-misses/2026-12-01T09.jsonl`. */
export function journalBlobName(at: Date): string {
  return `${MISS_JOURNAL_PREFIX}${at.toISOString().slice(0, 13)}.jsonl`;
}

export function formatMiss(r: MissRecord): string {
  return JSON.stringify(r) + "\n";
}

/**
 * Appends a miss to the journal at the active site. Append Block is atomic per block, so any number of application
 * instances can append to the same blob; the blob is created on first use (an existing one is kept).
 */
export async function appendMiss(site: SitePipeline, container: string, record: MissRecord): Promise<void> {
  const blob = site.appendBlob(container, journalBlobName(new Date(record.at)));
  const line = Buffer.from(formatMiss(record));
  try {
    await blob.appendBlock(line, line.length);
    return;
  } catch (err) {
    if (failureOf(err).statusCode !== 404) throw err;
  }
  try {
    await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: "application/x-ndjson" } });
  } catch (err) {
    if (failureOf(err).statusCode !== 404) throw err;
    // The fence container is missing at this site: a site deployed without fences. Created here, once.
    await site.container(container).createIfNotExists();
    await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: "application/x-ndjson" } });
  }
  await blob.appendBlock(line, line.length);
}
