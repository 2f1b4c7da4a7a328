import { FenceReading } from "./choose-site";
import { describeFailure, failureOf } from "./service-failure";
import { SitePipeline } from "./site-pipeline";

/** The fence's blob name in its container, as the deployment writes it (see lib/storage/site-fence.ts). */
export const FENCE_BLOB = "fence.json";

/**
 * Reads one site's fence (`<container>/fence.json`, `{"role": "active" | "passive", ...}`, written by the
 * deployment). A site without one reads as `none`; anything else that is not a fence (a refusal, a timeout, a
 * body that is not a fence record) is `unreadable`, with a reason that holds no SAS.
 */
export async function readFence(site: SitePipeline, container: string, timeoutMs: number): Promise<FenceReading> {
  let text: string;
  try {
    // One GET, body included: a fence is a few dozen bytes.
    const signal = AbortSignal.timeout(timeoutMs);
    const res = await site.blockBlob(container, FENCE_BLOB).download(0, undefined, { abortSignal: signal });
    const chunks: Buffer[] = [];
    for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) chunks.push(chunk);
    text = Buffer.concat(chunks).toString("utf8");
  } catch (err) {
    const f = failureOf(err);
    if (f.statusCode === 404) return { state: "none" };
    if ((err as Error)?.name === "AbortError" || (err as Error)?.name === "TimeoutError") return { state: "unreadable", reason: `no answer within ${timeoutMs} ms` };
    return { state: "unreadable", reason: describeFailure(f) };
  }
  try {
    const parsed = JSON.parse(text) as { role?: unknown; environment?: unknown };
    if (parsed.role === "active" || parsed.role === "passive") {
      return { state: parsed.role, ...(typeof parsed.environment === "string" ? { environment: parsed.environment } : {}) };
    }
  } catch {
    // Falls through: not JSON.
  }
  return { state: "unreadable", reason: `${container}/${FENCE_BLOB} is not a fence record` };
}
