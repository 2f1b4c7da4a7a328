import { errorCodeOf } from "../storage/errors";
import { SiteClient } from "../storage/site-client";

/**
 * Writes a JSON record (a run's status, a shard's run start) at `site`, creating its container only when the
 * write finds none: every cycle writes its record, and a create before each write was one round trip more on
 * every quiet cycle. Errors are the caller's to report (these records are best effort).
 */
export async function writeJsonRecord(site: SiteClient, container: string, name: string, body: string, signal?: AbortSignal): Promise<void> {
  const upload = () => site.blob(container, name).upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: "application/json" }, abortSignal: signal });
  try {
    await upload();
  } catch (err) {
    if (errorCodeOf(err) !== "ContainerNotFound") throw err;
    await site.ensureContainer(container, signal);
    await upload();
  }
}
