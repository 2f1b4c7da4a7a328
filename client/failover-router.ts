import { AnonymousCredential, BlobServiceClient, newPipeline, RequestPolicyFactory, StoragePipelineOptions } from "@azure/storage-blob";
import { ActiveSiteResolver } from "./active-site";
import { readFence } from "./fence-reader";
import { failoverPolicy, RouterCore } from "./failover-policy";
import { MirrorSender } from "./mirror-sender";
import { appendMiss, MissRecord } from "./miss-journal";
import { FailoverClientOptions, ResolvedOptions, resolveOptions } from "./options";
import { SitePipeline } from "./site-pipeline";

/** A site as the router names it; never its SAS. */
export interface SiteInfo {
  readonly name: string;
  readonly blobEndpoint: string;
}

/**
 * Routes an application's Blob requests to whichever of two sites the deployment's fences mark active. One router
 * per application process: it holds the cached decision that every client using its policy shares.
 *
 * ```ts
 * const router = new FailoverRouter({ sites: [east, west] });
 * pipeline.factories.push(router.policy());          // existing code: the one line
 * const service = new BlobServiceClient(router.url, pipeline);
 * ```
 */
export class FailoverRouter {
  private readonly core: RouterCore;
  private readonly pipelines: readonly [SitePipeline, SitePipeline];

  constructor(options: FailoverClientOptions) {
    const o: ResolvedOptions = resolveOptions(options);
    // The client's own requests fail fast: a fence that does not answer at once is an unreadable fence.
    this.pipelines = [new SitePipeline(o.sites[0], o.apiVersion, 1), new SitePipeline(o.sites[1], o.apiVersion, 1)];
    const journalPipelines = [new SitePipeline(o.sites[0], o.apiVersion, 3), new SitePipeline(o.sites[1], o.apiVersion, 3)];
    const resolver = new ActiveSiteResolver(
      { sites: [o.sites[0].name, o.sites[1].name], fenceContainer: o.fenceContainer, recheckAfterMs: o.recheckAfterMs,
        minRecheckIntervalMs: o.minRecheckIntervalMs, now: o.now, onEvent: o.onEvent },
      (i) => readFence(this.pipelines[i], o.fenceContainer, o.fenceTimeoutMs),
    );
    this.core = {
      options: o, resolver,
      journal: (site: 0 | 1, record: MissRecord) => appendMiss(journalPipelines[site], o.fenceContainer, record),
      mirrors: new MirrorSender(2),
    };
  }

  /**
   * The pipeline policy, for `pipeline.factories.push(router.policy())`. It runs once per call, before the SDK's
   * retry policy: retries of an attempt stay at one site, and the switch to another site happens between calls,
   * or once within a call that failed like an outage when the fences then name another site.
   */
  policy(): RequestPolicyFactory {
    return failoverPolicy(this.core);
  }

  /** A URL to build clients on: the first site's endpoint (the policy sends each request to the active site). */
  get url(): string {
    return this.core.options.sites[0].blobEndpoint;
  }

  /** A `BlobServiceClient` whose requests this router routes. @param options the SDK's pipeline options (retries, proxy) */
  serviceClient(options: StoragePipelineOptions = {}): BlobServiceClient {
    const pipeline = newPipeline(new AnonymousCredential(), options);
    pipeline.factories.push(this.policy());
    return new BlobServiceClient(this.url, pipeline);
  }

  /**
   * A client that reads from one named site, active or not: the explicit way to read a passive site's (possibly
   * stale) copy. Any write through it is refused before it is sent.
   */
  siteReader(name: string, options: StoragePipelineOptions = {}): BlobServiceClient {
    const index = this.core.options.sites.findIndex((s) => s.name === name);
    if (index < 0) throw new Error(`siteReader: no site named ${JSON.stringify(name)} (sites: ${this.core.options.sites.map((s) => s.name).join(", ")})`);
    const pipeline = newPipeline(new AnonymousCredential(), options);
    pipeline.factories.push(failoverPolicy(this.core, index as 0 | 1));
    return new BlobServiceClient(this.url, pipeline);
  }

  /** The site requests go to now (reading the fences if the cached decision is due). Throws on split brain. */
  async activeSite(): Promise<SiteInfo> {
    const s = this.core.options.sites[await this.core.resolver.active()];
    return { name: s.name, blobEndpoint: s.blobEndpoint };
  }

  /** Reads both fences before the next request, e.g. right after the application learns of a deploy. */
  refresh(): void {
    this.core.resolver.invalidate();
  }

  /** Pairs of fence reads so far. */
  get fenceChecks(): number {
    return this.core.resolver.checks;
  }
}

/** A `BlobServiceClient` routed to the active site of `options.sites`: the helper for new code. */
export function createFailoverClient(options: FailoverClientOptions, pipelineOptions: StoragePipelineOptions = {}): BlobServiceClient {
  return new FailoverRouter(options).serviceClient(pipelineOptions);
}
