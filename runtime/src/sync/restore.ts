import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { listOne } from "../listing/blob-lister";
import { RetainedCopy } from "../staging/retention";
import { describeError, FatalError, isConditionFailed } from "../storage/errors";
import { stagedCopyProblem, uploadEntry } from "../transfer/file-to-blob";
import { MiB, SyncContext } from "./context";
import { retainRemote } from "./retain-remote";

/**
 * Puts a retained copy back: uploads it with its properties and metadata to one side, or writes its bytes to
 * a local file. Restoring to the source is what undoes a mistaken deletion for good (the next run replicates it
 * again); it needs a SAS with write permission in the source's variable. What the restore replaces is kept in the
 * retention area first, and the write is conditional on it, so a blob written meanwhile is never overwritten
 * unseen. The caller holds the run lock and has checked the site's fence.
 */
export async function restoreRetained(ctx: SyncContext, copy: RetainedCopy, to: "source" | "target" | undefined, outFile: string | undefined): Promise<string> {
  // Checked before anything is written or given up for it (a blob of another type is deleted before the write).
  const problem = await stagedCopyProblem(copy.entry, copy.dataPath);
  if (problem) {
    throw new FatalError(`the retained copy of "${copy.name}" (retained ${copy.retainedAt}) is damaged: ${problem}; nothing was written. ` +
      "`dr-sync retention list --blob` shows the other copies kept of it");
  }
  if (outFile) {
    await fs.copyFile(copy.dataPath, outFile);
    return `wrote ${copy.size} bytes of "${copy.name}" (retained ${copy.retainedAt}, ${copy.reason}) to ${outFile}`;
  }
  const side = to ?? "target";
  const site = side === "source" ? ctx.src : ctx.dst;
  const siteKey = side === "source" ? ctx.srcKey : ctx.dstKey;
  let kept = false;
  try {
    await site.ensureContainer(copy.container);
    const current = await listOne(site.container(copy.container), copy.container, copy.name, { side: site.label, sasEnv: site.site.sasEnv, missing: "empty", signal: ctx.signal });
    if (current) {
      kept = await retainRemote(ctx, site, siteKey, copy.container, current, "replaced by a restore", join(ctx.config.stagingDir, `.restore-${randomBytes(8).toString("hex")}.part`));
      if (current.kind !== copy.entry.kind) await site.blob(copy.container, copy.name).delete({ conditions: { ifMatch: current.etag } });
    }
    await uploadEntry(site, copy.container, copy.entry, copy.dataPath, {
      singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB, blockConcurrency: ctx.config.blockConcurrency,
      conditions: current && current.kind === copy.entry.kind ? { ifMatch: current.etag } : { ifNoneMatch: "*" },
      onWarning: (m) => ctx.events.warn("scratch.left", m, { container: copy.container }),
    });
  } catch (err) {
    if (isConditionFailed(err)) {
      throw new FatalError(`"${copy.name}" changed at ${site.label} while it was being restored; nothing was overwritten. Run the restore again`);
    }
    throw new FatalError(`could not restore "${copy.name}" to ${site.label}: ${describeError(err)}`);
  }
  return `restored "${copy.name}" (retained ${copy.retainedAt}, ${copy.reason}) to ${copy.container} at ${site.label}` +
    (kept ? "; the version it replaced is in the retention area" : "");
}
