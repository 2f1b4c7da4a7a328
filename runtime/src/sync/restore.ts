import { promises as fs } from "node:fs";
import { RetainedCopy } from "../staging/retention";
import { FatalError } from "../storage/errors";
import { uploadEntry } from "../transfer/file-to-blob";
import { MiB, SyncContext } from "./context";

/**
 * Puts a retained copy back: uploads it with its properties and metadata to one side, or writes its bytes to
 * a local file. Restoring to the source is what undoes a mistaken deletion for good (the next run replicates it
 * again); it needs a SAS with write permission in the source's variable.
 */
export async function restoreRetained(ctx: SyncContext, copy: RetainedCopy, to: "source" | "target" | undefined, outFile: string | undefined): Promise<string> {
  if (outFile) {
    await fs.copyFile(copy.dataPath, outFile);
    return `wrote ${copy.size} bytes of "${copy.name}" (retained ${copy.retainedAt}, ${copy.reason}) to ${outFile}`;
  }
  const side = to ?? "target";
  const site = side === "source" ? ctx.src : ctx.dst;
  try {
    await site.container(copy.container).create().catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 409) throw e;
    });
    await uploadEntry(site, copy.container, copy.entry, copy.dataPath, {
      singleShotMax: ctx.config.singleShotMaxMiB * MiB, blockSize: ctx.config.blockSizeMiB * MiB, blockConcurrency: ctx.config.blockConcurrency,
    });
  } catch (err) {
    throw new FatalError(`could not restore "${copy.name}" to ${site.label}: ${(err as Error).message}`);
  }
  return `restored "${copy.name}" (retained ${copy.retainedAt}, ${copy.reason}) to ${copy.container} at ${site.label}`;
}
