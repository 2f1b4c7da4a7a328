import { createHash } from "node:crypto";
import { ContainerClient } from "@azure/storage-blob";

/** What the fidelity check compares, per blob. */
export interface BlobFacts {
  readonly size: number;
  /** SHA-256 of the bytes; absent when the check ran on listings only. */
  readonly sha256?: string;
  readonly contentType?: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** How much of the source arrived intact at the target. Shares are of the source's blobs. */
export interface Fidelity {
  readonly sourceBlobs: number;
  readonly targetBlobs: number;
  /** Source blobs absent at the target. */
  readonly missing: number;
  /** Target blobs absent at the source. */
  readonly extra: number;
  /** Blobs whose bytes match (sha256 when checked, size otherwise). */
  readonly bytes: number;
  readonly bytesChecked: boolean;
  readonly contentType: number;
  readonly metadata: number;
  /** True when the target equals the source in names, bytes, content types and metadata. */
  readonly identical: boolean;
  /** A few differences, for the report. */
  readonly examples: readonly string[];
}

/** Metadata names are case-insensitive in the Blob service; values are not. */
function sameMetadata(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const norm = (m: Readonly<Record<string, string>>) => Object.entries(m).map(([k, v]) => [k.toLowerCase(), v] as const).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** Compares two containers' facts. Pure. */
export function compareContainers(src: ReadonlyMap<string, BlobFacts>, dst: ReadonlyMap<string, BlobFacts>): Fidelity {
  let missing = 0;
  let bytes = 0;
  let contentType = 0;
  let metadata = 0;
  let bytesChecked = true;
  const examples: string[] = [];
  const note = (s: string) => { if (examples.length < 5) examples.push(s); };
  for (const [name, s] of src) {
    const d = dst.get(name);
    if (!d) {
      missing++;
      note(`${name}: missing at the target`);
      continue;
    }
    if (s.sha256 === undefined || d.sha256 === undefined) bytesChecked = false;
    if (s.size === d.size && s.sha256 === d.sha256) bytes++;
    else note(`${name}: bytes differ`);
    if ((s.contentType || "") === (d.contentType || "")) contentType++;
    else note(`${name}: content type "${s.contentType ?? ""}" became "${d.contentType ?? ""}"`);
    if (sameMetadata(s.metadata, d.metadata)) metadata++;
    else note(`${name}: metadata ${JSON.stringify(s.metadata)} became ${JSON.stringify(d.metadata)}`);
  }
  let extra = 0;
  for (const name of dst.keys()) {
    if (!src.has(name)) {
      extra++;
      note(`${name}: at the target only`);
    }
  }
  const n = src.size;
  return {
    sourceBlobs: n, targetBlobs: dst.size, missing, extra, bytes, bytesChecked: bytesChecked && n > 0, contentType, metadata,
    identical: missing === 0 && extra === 0 && bytes === n && contentType === n && metadata === n,
    examples,
  };
}

/** Lists a container with metadata; with `bytes`, downloads every blob to hash it. */
export async function readFacts(cc: ContainerClient, opts: { bytes: boolean; concurrency?: number }): Promise<Map<string, BlobFacts>> {
  const listed: { name: string; size: number; contentType?: string; metadata: Record<string, string> }[] = [];
  for await (const item of cc.listBlobsFlat({ includeMetadata: true })) {
    listed.push({ name: item.name, size: item.properties.contentLength ?? 0, contentType: item.properties.contentType || undefined, metadata: item.metadata ?? {} });
  }
  const out = new Map<string, BlobFacts>();
  const queue = [...listed];
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      let sha256: string | undefined;
      if (opts.bytes) {
        const body = b.size ? await cc.getBlobClient(b.name).downloadToBuffer() : Buffer.alloc(0);
        sha256 = createHash("sha256").update(body).digest("hex");
      }
      out.set(b.name, { size: b.size, sha256, contentType: b.contentType, metadata: b.metadata });
    }
  }));
  return out;
}

/** The share, in percent, of the source's blobs that `count` is. */
export function pct(count: number, f: Pick<Fidelity, "sourceBlobs">): number {
  return f.sourceBlobs ? (count / f.sourceBlobs) * 100 : 100;
}
