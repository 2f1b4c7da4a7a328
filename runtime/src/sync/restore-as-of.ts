import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { listBlobs } from "../listing/blob-lister";
import { RemoteBlob, StagedEntry } from "../model/blob";
import { ensurePrivateDir } from "../staging/atomic-file";
import { describeError, FatalError, isConditionFailed, isNotFound } from "../storage/errors";
import { downloadToFile } from "../transfer/blob-to-file";
import { uploadEntry } from "../transfer/file-to-blob";
import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { forEachLimited } from "../transfer/pool";
import { PitAction, planAsOf } from "../versions/point-in-time";
import { TargetVersions } from "../versions/target-versions";
import { MiB, SyncContext } from "./context";
import { retainRemote } from "./retain-remote";

export interface AsOfOptions {
  readonly container: string;
  readonly asOf: Date;
  readonly to: "source" | "target";
  readonly prefix?: string;
  /** Plan only. */
  readonly dryRun: boolean;
}

export interface AsOfResult {
  readonly container: string;
  readonly asOf: string;
  readonly to: "source" | "target";
  readonly actions: PitAction[];
  readonly applied: boolean;
  readonly failed: { name: string; error: string }[];
}

/**
 * `restore --container C --as-of T`: puts every blob of C (or of a prefix) back to its state at T, from the target's
 * versions container and what each side holds now: bytes, properties and metadata; blobs created after T are
 * removed, blobs deleted after T come back. Needs only the config and the SAS tokens (staging and state may be
 * empty: the DR site's own history is the point). What it replaces or removes is kept first: at the target in its
 * versions container, at the source in this machine's retention area. Every write is conditional on the version
 * the listing saw. The caller holds the lock and has checked the fence.
 */
export async function restoreAsOf(ctx: SyncContext, versions: TargetVersions, opts: AsOfOptions): Promise<AsOfResult> {
  const { container, asOf, to } = opts;
  const site = to === "source" ? ctx.src : ctx.dst;
  const [history, current] = await Promise.all([
    versions.read(container, opts.prefix ?? ""),
    listAll(ctx, site, container, opts.prefix),
  ]);
  const actions = planAsOf(current, history.entries, asOf, opts.prefix ?? "");
  const result = { container, asOf: asOf.toISOString(), to, actions, applied: false, failed: [] as { name: string; error: string }[] };
  if (opts.dryRun) return result;

  const changes = actions.filter((a) => a.action !== "keep");
  const versionProps = to === "source" && changes.some((a) => a.action === "restore") ? await versionBlobs(ctx, versions, container) : new Map<string, RemoteBlob>();
  if (to === "target") await ctx.dst.container(container).create({ abortSignal: ctx.signal }).catch((e: { statusCode?: number }) => { if (e.statusCode !== 409) throw e; });
  const tmpDir = join(ctx.config.stagingDir, ".restore-tmp");
  await ensurePrivateDir(tmpDir);
  try {
    await forEachLimited(changes, ctx.config.transferConcurrency, async (a) => {
      try {
        if (to === "target") await applyAtTarget(ctx, versions, container, a);
        else await applyAtSource(ctx, versions, container, a, versionProps, join(tmpDir, randomBytes(8).toString("hex")));
      } catch (err) {
        const error = isConditionFailed(err) ? `changed at ${site.label} during the restore; left as it is (run the restore again)` : describeError(err);
        result.failed.push({ name: a.name, error });
        ctx.events.warn("restore.failed", `restore of "${a.name}" in ${container} to ${site.label} failed: ${error}`, { container, blob: a.name });
      }
    });
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
  return { ...result, applied: true };
}

/** At the target, everything stays in the account: the versions container holds the bytes, Copy Blob moves them. */
async function applyAtTarget(ctx: SyncContext, versions: TargetVersions, container: string, a: PitAction): Promise<void> {
  if (a.action === "keep") return;
  const target = ctx.dst.blob(container, a.name);
  if (a.current) await versions.keep(container, a.current, a.action === "remove" ? "removed by a restore" : "replaced by a restore");
  if (a.action === "remove") {
    await target.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    return;
  }
  let conditions: { ifMatch?: string; ifNoneMatch?: string } = a.current ? { ifMatch: a.current.etag } : { ifNoneMatch: "*" };
  if (a.current && a.current.kind !== a.version.kind) {
    // The service does not turn one blob type into another.
    await target.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    conditions = { ifNoneMatch: "*" };
  }
  const poller = await target.beginCopyFromURL(ctx.dst.blobUrl(versions.versionsContainer, a.version.version), { conditions, abortSignal: ctx.signal, intervalInMs: 200 });
  const done = await poller.pollUntilDone();
  if (done.copyStatus && done.copyStatus !== "success") throw new Error(`copy from ${versions.versionsContainer} ended ${done.copyStatus}`);
}

/** At the source, the bytes come through this machine: download the kept version, upload it with its properties. */
async function applyAtSource(ctx: SyncContext, versions: TargetVersions, container: string, a: PitAction,
  versionProps: Map<string, RemoteBlob>, tmp: string): Promise<void> {
  if (a.action === "keep") return;
  const source = ctx.src.blob(container, a.name);
  if (a.current) await retainRemote(ctx, ctx.src, ctx.srcKey, container, a.current, "replaced by a restore", `${tmp}.kept`);
  if (a.action === "remove") {
    await source.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    return;
  }
  const kept = versionProps.get(a.version.version);
  if (!kept) throw new FatalError(`the kept version ${versions.versionsContainer}/${a.version.version} is gone`);
  const got = await downloadToFile(ctx.dst.blob(versions.versionsContainer, kept.name), kept, tmp, {
    singleShotMax: ctx.config.singleShotMaxMiB * MiB, rangeSize: ctx.config.blockSizeMiB * MiB, rangeConcurrency: ctx.config.blockConcurrency, signal: ctx.signal,
  }, kept.kind === "PageBlob" ? ctx.dst.pageBlob(versions.versionsContainer, kept.name) : undefined);
  const entry: StagedEntry = {
    name: a.name, srcEtag: kept.etag, size: kept.size, lastModified: kept.lastModified, kind: kept.kind, props: kept.props, metadata: kept.metadata,
    dataFile: "", stagedMd5: got.md5, ...(got.pageRanges ? { pageRanges: got.pageRanges } : {}),
  };
  let conditions: { ifMatch?: string; ifNoneMatch?: string } = a.current ? { ifMatch: a.current.etag } : { ifNoneMatch: "*" };
  if (a.current && a.current.kind !== kept.kind) {
    await source.delete({ conditions: { ifMatch: a.current.etag }, abortSignal: ctx.signal });
    conditions = { ifNoneMatch: "*" };
  }
  try {
    await uploadEntry(ctx.src, container, entry, tmp, {
      singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB, blockConcurrency: ctx.config.blockConcurrency,
      signal: ctx.signal, conditions, onWarning: (m) => ctx.events.warn("scratch.left", m, { container }),
    });
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

async function listAll(ctx: SyncContext, site: SyncContext["src"], container: string, prefix?: string): Promise<RemoteBlob[]> {
  const out: RemoteBlob[] = [];
  for await (const b of listBlobs(site.container(container), container, {
    side: site.label, sasEnv: site.site.sasEnv, missing: "empty", prefix, signal: ctx.signal,
  })) {
    if (!b.name.startsWith(SCRATCH_PREFIX)) out.push(b);
  }
  return out;
}

/** The version blobs of a container with their properties and metadata, by name. */
async function versionBlobs(ctx: SyncContext, versions: TargetVersions, container: string): Promise<Map<string, RemoteBlob>> {
  const out = new Map<string, RemoteBlob>();
  try {
    for await (const b of listBlobs(ctx.dst.container(versions.versionsContainer), versions.versionsContainer, {
      side: ctx.dst.label, sasEnv: ctx.config.target.sasEnv, missing: "empty", prefix: `v/${container}/`, signal: ctx.signal,
    })) out.set(b.name, b);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return out;
}
