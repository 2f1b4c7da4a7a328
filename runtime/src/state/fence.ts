import { EXIT_CODES } from "../cli/exit-codes";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isNotFound } from "../storage/errors";
import { SiteClient } from "../storage/site-client";

/**
 * The fence: a small blob the deployment writes into each site (`<statusContainer>/fence.json`) saying whether
 * applications use that site now. dr-sync never writes into a site marked active: after a failover, a VM that
 * comes back with its old direction would otherwise overwrite the live site with the stale one. The constructs
 * render the blob with `renderFence`, the runtime reads it with `readFence`: one format, one file.
 */
export const FENCE_BLOB = "fence.json";

/** Exit code when the destination is the active site. */
export const FENCED_EXIT_CODE = EXIT_CODES.fenced;

export interface Fence {
  /** `active`: applications use this site; nothing replicates into it. `passive`: the replica. */
  readonly role: "active" | "passive";
  /** The environment that wrote it, for the message. */
  readonly environment?: string;
}

export function renderFence(fence: Fence): string {
  return JSON.stringify({ tool: "stackhub-dr", ...fence }, null, 2) + "\n";
}

/** The site's fence, or undefined when it has none (a site deployed without one, or a local drill). */
export async function readFence(site: SiteClient, container: string, signal?: AbortSignal): Promise<Fence | undefined> {
  const side = site.label;
  let text: string;
  try {
    // Listed first: the listing's refusal says precisely what is wrong with the SAS, and a site without a fence
    // costs one request.
    let listed = false;
    for await (const b of site.container(container).listBlobsFlat({ prefix: FENCE_BLOB, abortSignal: signal })) if (b.name === FENCE_BLOB) listed = true;
    if (!listed) return undefined;
    text = (await site.blob(container, FENCE_BLOB).downloadToBuffer(0, undefined, { abortSignal: signal })).toString("utf8");
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (isAuthFailure(err)) {
      throw new FatalError(`${explainAuthFailure(side, site.site.sasEnv, `read ${container}/${FENCE_BLOB}`, err)}; nothing was written`);
    }
    throw new FatalError(`${side}: could not read the fence ${container}/${FENCE_BLOB} (${describeError(err)}); nothing was written, since this site may be the active one`);
  }
  try {
    const f = JSON.parse(text) as Fence;
    if (f.role === "active" || f.role === "passive") return f;
  } catch {
    // Falls through to the error below.
  }
  throw new FatalError(`${side}: ${container}/${FENCE_BLOB} is not a fence record ({"role": "active" | "passive"}); nothing was written`);
}

/** The message when the destination is the active site. */
export function fencedMessage(site: SiteClient, container: string, fence: Fence): string {
  return `the destination ${site.label} is the active site (${container}/${FENCE_BLOB} says role "active"` +
    `${fence.environment ? `, environment "${fence.environment}"` : ""}); replicating into it would overwrite live data, so nothing was written. ` +
    "If the active site changed, deploy the environment so this VM gets the new direction (the deployment rewrites the fences)";
}
