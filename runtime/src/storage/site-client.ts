import {
  AnonymousCredential, AppendBlobClient, BlockBlobClient, ContainerClient, newPipeline, PageBlobClient, Pipeline, StorageRetryPolicyType,
} from "@azure/storage-blob";
import { ResolvedConfig, SiteConfig } from "../config/schema";
import { apiVersionPolicy } from "./api-version-policy";
import { retryAfterPolicy } from "./retry-after-policy";
import { insideRetryLoop } from "./inside-retry-loop";
import { tryTimeoutPolicy } from "./try-timeout-policy";
import { withoutUnusedPolicies } from "./unused-policies";

/** One storage site (account), reached with its SAS through a pipeline that pins the API version. */
export class SiteClient {
  private readonly pipeline: Pipeline;
  private readonly sas: string;

  /**
   * @param role which side of the replication this site is, for messages
   *  @default "source" */
  constructor(readonly site: Required<Omit<SiteConfig, "cloud">>, sas: string, config: Pick<ResolvedConfig, "apiVersion" | "retry">,
    readonly role: "source" | "target" = "source") {
    this.sas = sas.replace(/^\?/, "");
    this.pipeline = newPipeline(new AnonymousCredential(), {
      retryOptions: {
        retryPolicyType: StorageRetryPolicyType.EXPONENTIAL,
        maxTries: config.retry.maxTries,
        retryDelayInMs: config.retry.retryDelayMs,
        maxRetryDelayInMs: config.retry.maxRetryDelayMs,
        tryTimeoutInMs: config.retry.tryTimeoutSeconds * 1000,
      },
      keepAliveOptions: { enable: true },
    });
    this.pipeline.factories.push(apiVersionPolicy(config.apiVersion));
    // A throttled answer waits as long as the service asked before the retry policy sees it.
    this.pipeline.factories.push(retryAfterPolicy(config.retry.maxRetryDelayMs));
    // The SDK's tryTimeoutInMs is only a hint to the service; this enforces it on our side, per attempt.
    this.pipeline.factories.push(tryTimeoutPolicy(config.retry.tryTimeoutSeconds * 1000));
    this.pipeline.factories.push(insideRetryLoop());
    withoutUnusedPolicies(this.pipeline, `${site.blobEndpoint}$root?${this.sas}`);
  }

  /** A label for messages: the side, the site's name when it has its own, and the host; never the SAS. */
  get label(): string {
    const name = this.site.name === this.role ? "" : ` ${this.site.name}`;
    return `${this.role}${name} (${new URL(this.site.blobEndpoint).host})`;
  }

  container(name: string): ContainerClient {
    return new ContainerClient(`${this.site.blobEndpoint}${name}?${this.sas}`, this.pipeline);
  }

  /** Creates a container unless it exists already (409): the one place that rule lives. */
  async ensureContainer(name: string, signal?: AbortSignal): Promise<void> {
    await this.container(name).create({ abortSignal: signal }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err;
    });
  }

  /**
   * A client for one blob. The whole name is percent-encoded, slashes included, so that names with `.` or `..`
   * segments reach the service as written instead of being folded away by URL normalization.
   */
  blob(container: string, name: string): BlockBlobClient {
    return new BlockBlobClient(this.blobUrl(container, name), this.pipeline);
  }

  pageBlob(container: string, name: string): PageBlobClient {
    return new PageBlobClient(this.blobUrl(container, name), this.pipeline);
  }

  appendBlob(container: string, name: string): AppendBlobClient {
    return new AppendBlobClient(this.blobUrl(container, name), this.pipeline);
  }

  /** A blob's URL with the SAS: a secret, for use as a copy source only. */
  blobUrl(container: string, name: string): string {
    return `${this.site.blobEndpoint}${container}/${encodeBlobName(name)}?${this.sas}`;
  }
}

/** Percent-encodes a blob name for a URL path, slashes included. */
export function encodeBlobName(name: string): string {
  return encodeURIComponent(name).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}
