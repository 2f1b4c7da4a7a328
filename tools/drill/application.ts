import { SiteClient } from "../../runtime/src/storage/site-client";
import { describeError } from "../../runtime/src/storage/errors";
import { KnownBlob, sha256 } from "./sample-data";
import { compareBlob, expectedView, putBlob } from "./site-data";

/**
 * The application side: it talks only to the active site, at the endpoint the stack's `active_blob_endpoint` output
 * names, with the application SAS. It reads blobs it knows and checks bytes, properties and metadata, and it writes.
 */
export class Application {
  constructor(private readonly site: SiteClient, readonly endpoint: string) {}

  /** Reads each known blob and returns every mismatch, `container/name: problem`; empty when all match. */
  async check(known: readonly KnownBlob[]): Promise<string[]> {
    const problems: string[] = [];
    for (const { container, blob } of known) {
      try {
        const client = this.site.blob(container, blob.name);
        const props = await client.getProperties();
        const body = await client.downloadToBuffer();
        const actual = {
          size: body.length, sha256: sha256(body), metadata: props.metadata ?? {},
          props: {
            contentType: props.contentType, contentEncoding: props.contentEncoding, contentLanguage: props.contentLanguage,
            contentDisposition: props.contentDisposition, cacheControl: props.cacheControl,
          },
        };
        problems.push(...compareBlob(expectedView(blob), actual).map((p) => `${container}/${blob.name}: ${p}`));
      } catch (err) {
        problems.push(`${container}/${blob.name}: ${describeError(err)}`);
      }
    }
    return problems;
  }

  /** True when the blob exists at the active site. */
  async has(container: string, name: string): Promise<boolean> {
    return this.site.blob(container, name).exists();
  }

  async write(known: KnownBlob): Promise<void> {
    await putBlob(this.site, known.container, known.blob);
  }

  /** Why the site cannot be reached, or undefined when it answers. */
  async unreachable(container: string): Promise<string | undefined> {
    try {
      await this.site.container(container).getProperties();
      return undefined;
    } catch (err) {
      return describeError(err);
    }
  }
}
