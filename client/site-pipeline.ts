import { AnonymousCredential, AppendBlobClient, BlockBlobClient, ContainerClient, newPipeline, Pipeline, StorageRetryPolicyType } from "@azure/storage-blob";
import { apiVersionPin } from "./api-version";
import { ResolvedSite } from "./options";

/** The client's own requests to one site (fence reads, journal appends): the site's SAS, the pinned API version. */
export class SitePipeline {
  private readonly pipeline: Pipeline;

  constructor(readonly site: ResolvedSite, apiVersion: string, maxTries: number) {
    this.pipeline = newPipeline(new AnonymousCredential(), {
      retryOptions: { retryPolicyType: StorageRetryPolicyType.EXPONENTIAL, maxTries, retryDelayInMs: 200, maxRetryDelayInMs: 2000 },
      keepAliveOptions: { enable: true },
    });
    this.pipeline.factories.push(apiVersionPin(apiVersion));
  }

  blockBlob(container: string, name: string): BlockBlobClient {
    return new BlockBlobClient(this.url(container, name), this.pipeline);
  }

  container(name: string): ContainerClient {
    return new ContainerClient(`${this.site.blobEndpoint}${encodeURIComponent(name)}?${this.site.sas}`, this.pipeline);
  }

  appendBlob(container: string, name: string): AppendBlobClient {
    return new AppendBlobClient(this.url(container, name), this.pipeline);
  }

  private url(container: string, name: string): string {
    const path = name.split("/").map(encodeURIComponent).join("/");
    return `${this.site.blobEndpoint}${encodeURIComponent(container)}/${path}?${this.site.sas}`;
  }
}
