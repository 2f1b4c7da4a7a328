import { randomBytes } from "node:crypto";
import { listBlobs } from "../listing/blob-lister";
import { BlobKind, normalizeEtag, RemoteBlob } from "../model/blob";
import { objectKey } from "../staging/object-path";
import { describeError, errorCodeOf, isNotFound } from "../storage/errors";
import { SiteClient } from "../storage/site-client";
import { isStorableName } from "../index/blob-name";

/** Why a version was kept at the target. */
export type VersionReason = "overwritten by a push" | "deleted by a push" | "replaced by a restore" | "removed by a restore";

/**
 * One kept version, as its index line records it. The version blob carries the bytes, properties and metadata (a
 * server-side copy keeps them); the line carries what the copy cannot: the real name and when the version was the
 * live one.
 */
export interface VersionEntry {
  /** The blob's name in its container. */
  readonly name: string;
  /** The version blob in the versions container. */
  readonly version: string;
  /** When this version was written at the target (its Last-Modified), by the service's clock. */
  readonly writtenAt: string;
  /** When it was kept, just before it was replaced or deleted, by the service's clock. */
  readonly keptAt: string;
  readonly reason: VersionReason;
  readonly etag: string;
  readonly size: number;
  readonly kind: BlobKind;
}

/**
 * Point-in-time history at the target itself, with no help from the VM: before a push (or a restore) replaces or
 * deletes a blob there, the service copies it (Copy Blob, same account, conditional on the ETag the listing saw)
 * to `<versionsContainer>/v/<container>/<day>/<stamp>-<key>`, and a line naming it is appended to
 * `<versionsContainer>/i/<container>/<day>/<run>-<n>.jsonl`. Days are the service's; `purge` removes whole days
 * older than the retention. A fresh VM with empty staging finds everything it needs here.
 */
export class TargetVersions {
  /** Per container and day (`<container>/<day>`): the index blob this run appends to (created once, however many
   *  workers ask), its part, and the lines waiting for the append in flight. */
  private readonly indexes = new Map<string, IndexState>();
  private created?: Promise<void>;

  constructor(private readonly site: SiteClient, readonly versionsContainer: string, readonly runId: string,
    private readonly now: () => Date, private readonly signal?: AbortSignal) {}

  /**
   * Copies the current version of `blob` (as listed) into the versions container and records it. Throws the
   * service's 412 when the blob changed since it was listed: the caller's write would not be conditional on it.
   */
  async keep(container: string, blob: RemoteBlob, reason: VersionReason): Promise<VersionEntry> {
    return this.recordCopied(container, blob, reason, await this.copy(container, blob.name, blob.etag));
  }

  /**
   * Copies the version of `name` whose ETag is `etag` into the versions container, recording nothing: a version
   * copied ahead of the write that replaces it (versions-ahead.ts), recorded by `recordCopied` when that write
   * comes. Throws the service's 412 when the blob's ETag is another by now. `signal` ends the copy's requests
   * (default: the run's).
   */
  async copy(container: string, name: string, etag: string, signal = this.signal): Promise<CopiedVersion> {
    await this.ensureContainer();
    const at = this.now();
    const day = at.toISOString().slice(0, 10);
    const version = `v/${container}/${day}/${at.getTime()}-${randomBytes(4).toString("hex")}-${objectKey(name).slice(0, 24)}`;
    const copy = this.site.blob(this.versionsContainer, version);
    const poller = await copy.beginCopyFromURL(this.site.blobUrl(container, name), {
      sourceConditions: { ifMatch: etag }, abortSignal: signal, intervalInMs: 200,
    });
    const done = await poller.pollUntilDone();
    if (done.copyStatus && done.copyStatus !== "success") throw new Error(`copy of "${name}" into ${this.versionsContainer} ended ${done.copyStatus}`);
    return { version, day, etag: normalizeEtag(etag) };
  }

  /**
   * Records a version `copy` made of `blob` (the same ETag: the caller checks), kept now, just before the write
   * that replaces or deletes it. The line goes into the index of the copy's day, so that a version and its line
   * are purged together.
   */
  async recordCopied(container: string, blob: RemoteBlob, reason: VersionReason, copied: CopiedVersion): Promise<VersionEntry> {
    const entry: VersionEntry = {
      name: blob.name, version: copied.version, writtenAt: blob.lastModified, keptAt: this.now().toISOString(), reason,
      etag: normalizeEtag(blob.etag), size: blob.size, kind: blob.kind,
    };
    await this.record(container, copied.day, entry);
    return entry;
  }

  /** The version blobs of a container (`v/<container>/…`), with their properties and metadata, in name order. */
  versionBlobs(container: string): AsyncGenerator<RemoteBlob> {
    return listBlobs(this.site.container(this.versionsContainer), this.versionsContainer, {
      side: this.site.label, sasEnv: this.site.site.sasEnv, missing: "empty", prefix: `v/${container}/`, signal: this.signal,
    });
  }

  /**
   * Calls `onEntry` for each index line of a container (names starting with `prefix`) whose version blob
   * `isPresent` says still exists, one index blob at a time; returns how many index blobs were read. Holds one
   * index blob's text at a time, nothing per version.
   */
  async eachEntry(container: string, prefix: string, isPresent: (version: string) => boolean, onEntry: (e: VersionEntry) => void): Promise<number> {
    let indexBlobs = 0;
    const cc = this.site.container(this.versionsContainer);
    for await (const b of listBlobs(cc, this.versionsContainer, { side: this.site.label, sasEnv: this.site.site.sasEnv, missing: "empty", prefix: `i/${container}/`, signal: this.signal })) {
      indexBlobs++;
      const text = (await this.site.blob(this.versionsContainer, b.name).downloadToBuffer(0, undefined, { abortSignal: this.signal })).toString("utf8");
      for (const line of text.split("\n")) {
        if (!line) continue;
        let e: VersionEntry;
        try {
          e = JSON.parse(line) as VersionEntry;
        } catch {
          // A line is one append: whole or absent; anything else was not written by dr-sync.
          continue;
        }
        // A line without a name a blob can have was not written by dr-sync either.
        if (typeof e?.name !== "string" || typeof e.version !== "string" || !isStorableName(e.name)) continue;
        // A line whose copy a purge or a crash took away describes nothing that can be restored.
        if (e.name.startsWith(prefix) && isPresent(e.version)) onEntry(e);
      }
    }
    return indexBlobs;
  }

  /** Deletes the version and index day folders of a container older than `days` before `now`; returns the blobs removed. */
  async purge(container: string, days: number, now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - days * 86400000).toISOString().slice(0, 10);
    const cc = this.site.container(this.versionsContainer);
    let removed = 0;
    for (const area of ["v", "i"]) {
      for await (const b of listBlobs(cc, this.versionsContainer, { side: this.site.label, sasEnv: this.site.site.sasEnv, missing: "empty", prefix: `${area}/${container}/`, signal: this.signal })) {
        const day = b.name.split("/")[2] ?? "";
        if (/^\d{4}-\d{2}-\d{2}$/.test(day) && day < cutoff) {
          await this.site.blob(this.versionsContainer, b.name).deleteIfExists({ abortSignal: this.signal });
          removed++;
        }
      }
    }
    return removed;
  }

  private ensureContainer(): Promise<void> {
    // One request per run, shared by every worker that keeps a version.
    this.created ??= this.site.ensureContainer(this.versionsContainer, this.signal).catch((err) => {
      // A failed create is tried again by the next worker, not remembered.
      this.created = undefined;
      throw err;
    });
    return this.created;
  }

  /**
   * Records one index line, returning once an append that holds it has succeeded (the caller deletes or replaces
   * the blob only then). Lines that arrive while an append is in flight go together in the next one (group commit):
   * Azurite, and a service too, takes appends to one blob one at a time, so 150 kept versions were 150 appends in
   * a row, most of a changed cycle's time. A line stays whole inside its append, which is all `read` relies on.
   */
  private record(container: string, day: string, entry: VersionEntry): Promise<void> {
    // One index per day too: a line filed under an earlier day than its version would be purged a day before it.
    const key = `${container}/${day}`;
    let state = this.indexes.get(key);
    if (!state) this.indexes.set(key, (state = { part: 0, queue: [] }));
    const st = state;
    return new Promise<void>((resolve, reject) => {
      st.queue.push({ line: JSON.stringify(entry) + "\n", name: entry.name, resolve, reject });
      st.writer ??= this.drain(container, day, st).finally(() => { st.writer = undefined; });
    });
  }

  private async drain(container: string, day: string, state: IndexState): Promise<void> {
    while (state.queue.length) {
      const batch = takeBatch(state.queue);
      try {
        await this.append(container, day, state, batch.map((w) => w.line).join(""), batch[0].name);
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  /** Appends index lines; an index that reached the service's block limit is continued in the next part. */
  private async append(container: string, day: string, state: IndexState, text: string, firstName: string): Promise<void> {
    const bytes = Buffer.byteLength(text);
    for (let attempt = 0; attempt < 3; attempt++) {
      const name = state.name ?? `i/${container}/${day}/${this.runId}-${state.part}.jsonl`;
      const index = this.site.appendBlob(this.versionsContainer, name);
      if (!state.name) {
        await index.createIfNotExists({ abortSignal: this.signal, blobHTTPHeaders: { blobContentType: "application/x-ndjson" } });
        state.name = name;
      }
      try {
        await index.appendBlock(text, bytes, { abortSignal: this.signal });
        return;
      } catch (err) {
        if (isNotFound(err) || /BlockCountExceedsLimit/i.test(errorCodeOf(err) ?? "")) {
          if (state.name === name) {
            state.name = undefined;
            state.part++;
          }
          continue;
        }
        throw new Error(`could not record a kept version in ${this.versionsContainer}/${name}: ${describeError(err)}`);
      }
    }
    throw new Error(`could not record a kept version of "${firstName}" in ${this.versionsContainer}`);
  }
}

/** A version blob `copy` made: where it is, the day it is filed under, and the ETag it was copied at. */
export interface CopiedVersion {
  readonly version: string;
  readonly day: string;
  readonly etag: string;
}

interface IndexState {
  name?: string;
  part: number;
  readonly queue: WaitingLine[];
  /** The one loop appending this container's queue, while it runs. */
  writer?: Promise<void>;
}

interface WaitingLine {
  readonly line: string;
  readonly name: string;
  resolve(): void;
  reject(err: unknown): void;
}

/** An Append Block carries at most 4 MiB (2017-11-09); a batch stays well under it. */
const BATCH_MAX_BYTES = 1024 * 1024;

/** Takes the oldest waiting lines that fit in one append (always at least one). */
export function takeBatch<T extends { readonly line: string }>(queue: T[], maxBytes = BATCH_MAX_BYTES): T[] {
  let bytes = 0;
  let n = 0;
  while (n < queue.length && (n === 0 || bytes + Buffer.byteLength(queue[n].line) <= maxBytes)) bytes += Buffer.byteLength(queue[n++].line);
  return queue.splice(0, n);
}
