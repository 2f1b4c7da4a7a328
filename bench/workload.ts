import { createHash } from "node:crypto";

/**
 * The generated data: every tool starts from the same blobs and sees the same changes. Everything here is a pure
 * function of the options, so two runs (and two machines) generate byte-identical data.
 */

/** One blob to create at the source. */
export interface BlobSpec {
  readonly name: string;
  readonly size: number;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Version of the bytes: a changed blob keeps its name and size and gets new bytes. */
  readonly gen: number;
}

/** What the "1% changed" phase does to the source. */
export interface ChangeSet {
  /** Existing names, rewritten with new bytes of the same size (the harder case for change detection). */
  readonly changed: readonly BlobSpec[];
  readonly added: readonly BlobSpec[];
  readonly deleted: readonly string[];
}

// Content types that a tool cannot guess from the name: several disagree with the extension on purpose.
const CONTENT_TYPES = [
  "application/json",
  "text/csv; charset=utf-8",
  "image/png",
  "application/octet-stream",
  "application/vnd.contoso.invoice+xml",
  "text/plain; charset=iso-8859-1",
  "application/pdf",
];
const EXTENSIONS = [".json", ".csv", ".dat", "", ".xml", ".txt", ".bin"];

/** Metadata varies too: some blobs have none, some several keys. */
function metadataFor(i: number, prefix: string): Record<string, string> {
  switch (i % 4) {
    case 0: return {};
    case 1: return { origin: "bench" };
    case 2: return { origin: "bench", index: String(i), set: prefix };
    default: return { owner: `team-${i % 13}`, retention: i % 2 ? "7y" : "30d", checksum: createHash("md5").update(`${prefix}${i}`).digest("hex") };
  }
}

/**
 * How the names are laid out, which decides how many listing pages a tool that walks folder by folder needs:
 * - `nested`: two folder levels, 16 × 64 small folders (5,000 blobs: 1,024 folders of about 5);
 * - `folders`: 50 folders of 100 at 5,000 blobs, as a new user's first container might be;
 * - `flat`: every blob at the top level, no folder at all.
 */
export type Shape = "nested" | "folders" | "flat";
export const SHAPES: readonly Shape[] = ["nested", "folders", "flat"];

/** The name of blob number `i`. Added blobs (a new `prefix`, later numbers) land in the same kind of folders. Pure. */
export function blobName(shape: Shape, prefix: string, i: number): string {
  const item = `item-${String(i).padStart(7, "0")}${EXTENSIONS[i % EXTENSIONS.length]}`;
  switch (shape) {
    case "nested": return `${prefix}/${String(i % 16).padStart(2, "0")}/${String(Math.floor(i / 16) % 64).padStart(2, "0")}/${item}`;
    case "folders": return `${prefix}/folder-${String(i % 50).padStart(2, "0")}/${item}`;
    case "flat": return `${prefix}-${item}`;
  }
}

/** `count` blobs of `size` bytes, named by `shape`, content types and metadata varied. */
export function generateBlobs(count: number, size: number, prefix: string, start = 0, shape: Shape = "nested"): BlobSpec[] {
  return Array.from({ length: count }, (_, k) => {
    const i = start + k;
    return {
      name: blobName(shape, prefix, i),
      size,
      contentType: CONTENT_TYPES[i % CONTENT_TYPES.length],
      metadata: metadataFor(i, prefix),
      gen: 0,
    };
  });
}

/**
 * `percent` of the blobs changed, the same share added and the same share deleted (at least one each), spread
 * evenly over the names so every folder is touched. Changed and deleted blobs never overlap.
 */
export function changeSet(blobs: readonly BlobSpec[], percent: number, prefix: string, shape: Shape = "nested"): ChangeSet {
  const n = Math.max(1, Math.round((blobs.length * percent) / 100));
  const step = Math.max(2, Math.floor(blobs.length / n));
  const changed: BlobSpec[] = [];
  const deleted: string[] = [];
  for (let i = 0; i < blobs.length && (changed.length < n || deleted.length < n); i += step) {
    if (changed.length < n) changed.push({ ...blobs[i], gen: blobs[i].gen + 1 });
    if (deleted.length < n && i + 1 < blobs.length) deleted.push(blobs[i + 1].name);
  }
  const size = blobs[0]?.size ?? 1024;
  const added = generateBlobs(n, size, `${prefix}-added`, blobs.length, shape);
  return { changed, added, deleted };
}

/**
 * The bytes of a blob version: a xorshift stream seeded from its name and generation, so nothing compresses or
 * dedupes and every version differs.
 */
export function blobBody(spec: Pick<BlobSpec, "name" | "size" | "gen">): Buffer {
  const seed = createHash("sha256").update(`${spec.name}#${spec.gen}`).digest();
  const buf = Buffer.allocUnsafe(spec.size);
  let x = seed.readUInt32LE(0) || 0x9e3779b9;
  const words = Math.floor(spec.size / 4);
  for (let w = 0; w < words; w++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, w * 4);
  }
  for (let b = words * 4; b < spec.size; b++) buf[b] = seed[b % seed.length];
  return buf;
}
