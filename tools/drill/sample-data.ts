import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { BlobProps } from "../../runtime/src/model/blob";
import { mulberry32 } from "../fault-proxy/fault-proxy";

/**
 * The drill's sample data: what an application would keep in blob storage (invoices as JSON and PDF, images,
 * CSV exports, gzip-encoded logs), with nested names, content types and metadata. Pure apart from the random bytes
 * of large blobs; names, sizes and changes come from a seeded generator, so a failing drill can be replayed.
 */
export interface SampleBlob {
  readonly name: string;
  readonly body: Buffer;
  /** Set by the writer; Content-MD5 is the upload's business (see `putBlob`). */
  readonly props: Omit<BlobProps, "contentMD5">;
  /** Lowercase keys: the service keeps metadata names case-insensitively. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What the source holds, container by container: the drill's expectation of every later read. */
export type SampleSet = Map<string, Map<string, SampleBlob>>;

/** A blob the application knows, and where. */
export interface KnownBlob {
  readonly container: string;
  readonly blob: SampleBlob;
}

export interface SampleChanges {
  readonly puts: { readonly container: string; readonly blob: SampleBlob }[];
  readonly deletes: { readonly container: string; readonly name: string }[];
}

const MiB = 1024 * 1024;


type Kind = (rand: () => number, id: string, version: number) => Omit<SampleBlob, "metadata">;

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)];
/** Filler bytes: four per draw of the generator, so a 100 KiB blob costs microseconds, not an array of numbers. */
function bytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n + 3);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  return b.subarray(0, n);
}

/** Kinds of small blob, each with the properties its writer would set. */
const KINDS: readonly Kind[] = [
  (rand, id, v) => ({
    name: `${2023 + Math.floor(rand() * 3)}/${String(1 + Math.floor(rand() * 12)).padStart(2, "0")}/invoice-${id}.json`,
    body: Buffer.from(JSON.stringify({ invoice: id, version: v, customer: `c-${Math.floor(rand() * 900) + 100}`,
      lines: Array.from({ length: 1 + Math.floor(rand() * 30) }, (_, i) => ({ sku: `sku-${i}`, qty: Math.ceil(rand() * 9), price: Math.round(rand() * 10000) / 100 })) }, null, 2)),
    props: { contentType: "application/json", cacheControl: "no-cache" },
  }),
  (rand, id) => ({
    name: `archive/pdf/invoice ${id}.pdf`,
    body: Buffer.concat([Buffer.from("%PDF-1.4\n"), bytes(rand, 2000 + Math.floor(rand() * 60000))]),
    props: { contentType: "application/pdf", contentDisposition: `attachment; filename="invoice-${id}.pdf"` },
  }),
  (rand, id) => ({
    name: `customers/c-${id.slice(-3)}/photos/${id}.png`,
    body: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), bytes(rand, 500 + Math.floor(rand() * 120000))]),
    props: { contentType: "image/png", cacheControl: "public, max-age=86400" },
  }),
  (rand, id, v) => ({
    name: `exports/daily/${id}/orders.csv`,
    body: Buffer.from(["order,amount,currency", ...Array.from({ length: 5 + Math.floor(rand() * 400) }, (_, i) => `${id}-${v}-${i},${(rand() * 500).toFixed(2)},EUR`)].join("\n")),
    props: { contentType: "text/csv; charset=utf-8", contentLanguage: "en-GB" },
  }),
  (rand, id, v) => ({
    name: `logs/app/${id}.log.gz`,
    body: gzipSync(Buffer.from(Array.from({ length: 20 + Math.floor(rand() * 200) }, (_, i) => `${id} v${v} line ${i} ok`).join("\n"))),
    props: { contentType: "text/plain; charset=utf-8", contentEncoding: "gzip" },
  }),
  (rand, id) => ({
    name: `notes/résumé ${id} – ü.txt`,
    body: Buffer.from(`Notizen ${id}: Grüße, 東京, ${rand()}`),
    props: { contentType: "text/plain; charset=utf-8", contentLanguage: "de-DE" },
  }),
];

function smallBlob(rand: () => number, container: string, index: number, version: number): SampleBlob {
  const id = `${container.slice(0, 3)}${String(index).padStart(5, "0")}`;
  const b = pick(rand, KINDS)(rand, id, version);
  return { ...b, metadata: { origin: "drill", version: String(version), checksum: sha256(b.body).slice(0, 16) } };
}

/** A large blob: random bytes, uploaded in blocks; Content-MD5 set by the writer, as AzCopy's --put-md5 does. */
export function largeBlob(index: number, sizeMiB: number, version = 1): SampleBlob {
  const body = randomBytes(Math.max(1, Math.round(sizeMiB * MiB)));
  return {
    name: `media/raw/scan-${String(index).padStart(2, "0")}.bin`,
    body,
    props: { contentType: "application/octet-stream" },
    metadata: { origin: "drill", version: String(version), checksum: sha256(body).slice(0, 16) },
  };
}

/** The initial data: `perContainer` small blobs in every container, the large blobs in the first one. */
export function initialSamples(containers: readonly string[], perContainer: number, largeMiB: readonly number[], seed: number): SampleSet {
  const rand = mulberry32(seed);
  const set: SampleSet = new Map();
  containers.forEach((container, ci) => {
    const blobs = new Map<string, SampleBlob>();
    for (let i = 0; blobs.size < perContainer; i++) {
      const b = smallBlob(rand, container, i, 1);
      blobs.set(b.name, b);
    }
    if (ci === 0) largeMiB.forEach((size, i) => { const b = largeBlob(i, size); blobs.set(b.name, b); });
    set.set(container, blobs);
  });
  return set;
}

export interface GuardLimits {
  readonly maxDeletePercent: number;
  readonly maxDeleteCount: number | null;
}

/**
 * What the application changes at the source between two cycles: about a tenth of each container rewritten, a
 * tenth added, a tenth deleted. Deletions stay within the runtime's delete guard (the config's limits, and never
 * more than half), so the next run replicates them instead of stopping; a drill that trips the guard tests the
 * guard, not replication. The first container's first large blob is rewritten too, when there is one.
 */
export function planChanges(set: SampleSet, cycle: number, guards: GuardLimits, seed: number): SampleChanges {
  const rand = mulberry32(seed * 1000 + cycle);
  const puts: SampleChanges["puts"][number][] = [];
  const deletes: SampleChanges["deletes"][number][] = [];
  for (const [container, blobs] of set) {
    const small = [...blobs.values()].filter((b) => !b.name.startsWith("media/"));
    const n = blobs.size;
    const tenth = Math.max(1, Math.round(small.length / 10));
    const allowed = Math.min(tenth, Math.floor((n * Math.min(guards.maxDeletePercent, 50)) / 100), guards.maxDeleteCount ?? Infinity);
    const shuffled = shuffle(small, rand);
    for (const b of shuffled.slice(0, allowed)) deletes.push({ container, name: b.name });
    for (const b of shuffled.slice(allowed, allowed + tenth)) {
      const version = Number(b.metadata.version ?? "1") + 1;
      const body = Buffer.concat([b.body, Buffer.from(`\nrevision ${version} of cycle ${cycle}`)]);
      puts.push({ container, blob: { ...b, body, metadata: { ...b.metadata, version: String(version), checksum: sha256(body).slice(0, 16) } } });
    }
    for (let i = 0; i < tenth; i++) {
      const b = smallBlob(rand, container, 10000 * cycle + i, 1);
      if (!blobs.has(b.name)) puts.push({ container, blob: b });
    }
  }
  const first = [...set.values()][0];
  const large = first ? [...first.values()].find((b) => b.name.startsWith("media/")) : undefined;
  if (large && cycle === 2) {
    const version = Number(large.metadata.version) + 1;
    const body = Buffer.from(large.body);
    randomBytes(Math.min(body.length, MiB)).copy(body, 0);
    puts.push({ container: [...set.keys()][0], blob: { ...large, body, metadata: { ...large.metadata, version: String(version), checksum: sha256(body).slice(0, 16) } } });
  }
  return { puts, deletes };
}

/** Applies changes to the expectation, after they were applied to the site. */
export function applyChanges(set: SampleSet, changes: SampleChanges): void {
  for (const d of changes.deletes) set.get(d.container)?.delete(d.name);
  for (const p of changes.puts) set.get(p.container)?.set(p.blob.name, p.blob);
}

export function sha256(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}

function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Every blob of a set with its container. */
export function* flatten(set: SampleSet): Generator<KnownBlob> {
  for (const [container, blobs] of set) for (const blob of blobs.values()) yield { container, blob };
}

/** What the application reads to check a site: a few blobs of each container, the outage's writes, the large ones. */
export function pickKnown(set: SampleSet): KnownBlob[] {
  const out: KnownBlob[] = [];
  for (const [container, blobs] of set) {
    const sorted = [...blobs.values()].sort((a, b) => a.name.localeCompare(b.name));
    const chosen = new Set([...sorted.slice(0, 3), ...sorted.filter((b) => b.name.startsWith("incoming/") || b.name.startsWith("media/"))]);
    for (const blob of chosen) out.push({ container, blob });
  }
  return out;
}

/** New orders in every container while the source is down, and one existing blob rewritten. */
export function outageWrites(set: SampleSet): KnownBlob[] {
  const out: KnownBlob[] = [];
  for (const [container, blobs] of set) {
    for (let i = 1; i <= 2; i++) out.push({ container, blob: orderBlob(`incoming/during-outage-${i}.json`, `written at the target during the outage (${container})`) });
    const victim = [...blobs.values()].filter((b) => !b.name.startsWith("media/")).sort((a, b) => a.name.localeCompare(b.name))[0];
    if (victim) {
      const body = Buffer.concat([victim.body, Buffer.from("\namended at the DR site during the outage")]);
      out.push({ container, blob: { ...victim, body, metadata: { ...victim.metadata, version: String(Number(victim.metadata.version) + 1), checksum: sha256(body).slice(0, 16) } } });
    }
  }
  return out;
}

/** A small order document, as the application writes one. */
export function orderBlob(name: string, note: string): SampleBlob {
  const body = Buffer.from(JSON.stringify({ order: name, note, at: new Date().toISOString() }, null, 2));
  return { name, body, props: { contentType: "application/json", cacheControl: "no-cache" }, metadata: { origin: "drill", version: "1", checksum: sha256(body).slice(0, 16) } };
}
