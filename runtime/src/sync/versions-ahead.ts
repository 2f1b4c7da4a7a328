import { RemoteBlob } from "../model/blob";
import { StagingIndex } from "../index/staging-index";
import { killPoint } from "../index/kill-point";
import { PushRecords } from "../state/push-records";
import { describeError, kindOf } from "../storage/errors";
import { WorkPool } from "../transfer/pool";
import { LinkedAbort } from "../transfer/linked-abort";
import { CopiedVersion, TargetVersions, VersionEntry, VersionReason } from "../versions/target-versions";
import { SyncContext } from "./context";

/** Versions copied ahead of the push, by name, in the container's index: what the push records instead of copying. */
export const VERSIONS_AHEAD = "versions.ahead";

/** A version copied ahead, as its queue row holds it: the copy, and the run that made it. */
interface CopiedAhead extends CopiedVersion {
  readonly run: string;
}

/**
 * Copies the target's versions of blobs the pull replaces or removes in staging while the pull goes on, so that
 * the push after it only records them (`keepVersion`) instead of copying each one in its own turn: in a cycle that
 * changes or deletes blobs, the target's service then works while the source's serves the pull.
 *
 * A name is copied ahead only when its push record says which version we wrote there, and the copy is conditional on
 * that ETag (`x-ms-source-if-match`): the copy holds that version or is not made. The push uses it only for the
 * same ETag, listed again after the pull, and records the version then, just before its write, exactly as a copy
 * made then would be recorded; anything else (a blob written at the target meanwhile, a copy refused or still in
 * the queue) is kept by the push as before. Offers come only once the pull's guards have passed for what they
 * count, so a source wiped by mistake is never copied ahead. A copy the push does not use (its write did not
 * happen: a guard at the target, a failure, a kill) is a version blob without an index line: no restore and no
 * `retention list` shows it, and it goes with its day's folder (`purge`). Nothing here is retried or counted as
 * failed; a failure of a fatal kind stops copying ahead, and the push meets it again and reports it.
 */
export class VersionsAhead {
  private stopped = false;
  private readonly pool: WorkPool<string>;
  /** Aborted by `stop` (and by the run's own signal): the copies in flight end at once. */
  private readonly abort: LinkedAbort;

  constructor(private readonly ctx: SyncContext, private readonly versions: TargetVersions, private readonly container: string,
    private readonly rows: StagingIndex, private readonly records: PushRecords) {
    // A killed run's rows name copies no later run records: each run starts from none.
    rows.clearQueue(VERSIONS_AHEAD);
    this.pool = new WorkPool(ctx.config.transferConcurrency, (name) => this.copy(name));
    this.abort = new LinkedAbort(ctx.signal);
  }

  /**
   * Told of each staged name the pull replaces or removes, once the guards that count it have passed; never waits.
   * Returns false once no more offers are taken (stopped, or the queue full: the push keeps the rest itself).
   */
  offer(name: string): boolean {
    if (this.stopped || this.abort.signal.aborted) return false;
    return this.records.get(name)?.dstEtag === undefined || this.pool.tryAdd(name);
  }

  /** Drops what is still queued and aborts the copies in flight: the container stopped. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Waits for the copies in flight. */
  async finish(): Promise<void> {
    await this.pool.drain();
    this.abort.release();
  }

  private async copy(name: string): Promise<void> {
    const { ctx, container } = this;
    if (this.stopped || this.abort.signal.aborted) return;
    // Read when its turn comes: a record the push has replaced meanwhile names what the target holds now.
    const etag = this.records.get(name)?.dstEtag;
    if (etag === undefined) return;
    let copied: CopiedVersion;
    try {
      copied = await this.versions.copy(container, name, etag, this.abort.signal);
    } catch (err) {
      if (kindOf(err) === "fatal") this.stopped = true;
      ctx.events.debug("version.ahead.left", `the target's version of "${name}" in ${container} is left to the push: ${describeError(err)}`, { container, blob: name });
      return;
    }
    killPoint("versions.ahead.after-copy");
    this.rows.enqueue(VERSIONS_AHEAD, name, { ...copied, run: this.versions.runId } satisfies CopiedAhead);
  }
}

/**
 * Keeps the target's current version of `blob` (as listed) before a write replaces or deletes it: recorded from the
 * copy made ahead of the push when there is one of this very version (same ETag, this run), otherwise copied now.
 * Throws the service's 412 when the blob changed since it was listed, as `TargetVersions.keep` does.
 */
export async function keepVersion(ctx: SyncContext, container: string, rows: StagingIndex, blob: RemoteBlob, reason: VersionReason): Promise<VersionEntry> {
  const versions = ctx.versions!;
  const ahead = rows.queuedItem<CopiedAhead>(VERSIONS_AHEAD, blob.name);
  if (ahead && ahead.run === versions.runId && ahead.etag === blob.etag) {
    // Once: a second write of the name in this run (its first one refused) keeps the version it meets then.
    rows.dequeue(VERSIONS_AHEAD, blob.name);
    return versions.recordCopied(container, blob, reason, ahead);
  }
  return versions.keep(container, blob, reason);
}
