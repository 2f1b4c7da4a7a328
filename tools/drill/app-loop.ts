import { BlobServiceClient } from "@azure/storage-blob";
import { ClientEvent, FailoverRouter, StackhubDrClientError } from "../../client";
import { describeError } from "../../runtime/src/storage/errors";
import { KnownBlob, orderBlob, SampleBlob, sha256 } from "./sample-data";
import { compareBlob, expectedView } from "./site-data";
import { isFenceRead, LoggedRequest, RequestLog } from "./request-log";

/** One site as the application is configured with it: its label, account, SAS, and where its front door is. */
export interface AppSite {
  readonly label: string;
  readonly account: string;
  readonly sas: string;
  /** Port of the site's gateway (read per connection: the gateway keeps its port across close/open). */
  readonly port: () => number;
}

/** One phase of the application's loop, as the report shows it. */
export interface AppPhaseReport {
  readonly phase: string;
  /** The site the router named at the end of the phase, or why it named none. */
  readonly activeSite: string;
  readonly iterations: number;
  readonly ok: number;
  readonly failed: number;
  /** Distinct errors the application got (kind and message, no SAS). */
  readonly errors: readonly string[];
  /** Requests of the application each site received, fence reads excluded. */
  readonly requests: { readonly source: number; readonly target: number };
  /** Requests the passive site received beyond fence reads and the synchronous container's mirrored writes: must be 0. */
  readonly toPassive: number;
}

export interface ApplicationReport {
  readonly recheckAfterMs: number;
  readonly synchronousContainer: string;
  readonly otherContainer: string;
  readonly mode: "strict" | "best-effort";
  readonly phases: readonly AppPhaseReport[];
  /** The last writes before the disaster, checked at the target after it. */
  readonly lastWrites?: {
    readonly synchronous: { readonly name: string; readonly atTarget: boolean; readonly secondsBeforeDisaster: number };
    readonly other: { readonly name: string; readonly atTarget: boolean };
  };
  /** From the failover deploy to the application's first successful write at the target, in seconds. */
  readonly secondsToSwitch?: number;
  /** Lines in the miss journal at the target: best-effort dual writes the source could not take during the outage. */
  readonly journaledMisses?: number;
}

export interface PhaseOptions {
  readonly iterations: number;
  /** The site that must not get the application's requests (fence reads and mirrors aside). */
  readonly passive: "source" | "target";
  /** Also write (and read back) in the non-synchronous container. @default true */
  readonly other?: boolean;
  /** Iterations are expected to fail (no site to go to, split brain): success fails the phase. @default false */
  readonly expectFailure?: boolean;
}

/**
 * The drill's application: one `FailoverRouter` for the whole drill, configured once with both sites (each behind a
 * counting relay), never restarted or reconfigured. Each iteration writes an order into the synchronous container
 * and one into the other, and reads both back with bytes, properties and metadata checked. The relays count what
 * each site received, so the report can say from the network's side that nothing went to the passive site.
 */
export class ApplicationLoop {
  readonly phases: AppPhaseReport[] = [];
  private readonly service: BlobServiceClient;
  private counter = 0;

  private constructor(readonly router: FailoverRouter, private readonly logs: { source: RequestLog; target: RequestLog },
    private readonly accounts: { source: string; target: string }, readonly syncContainer: string, readonly otherContainer: string,
    readonly recheckAfterMs: number, readonly events: ClientEvent[]) {
    this.service = router.serviceClient({ retryOptions: { maxTries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 200, tryTimeoutInMs: 10000 } });
  }

  static async start(sites: { source: AppSite; target: AppSite }, syncContainer: string, otherContainer: string, recheckAfterMs: number): Promise<ApplicationLoop> {
    const logs = { source: await RequestLog.start(sites.source.port), target: await RequestLog.start(sites.target.port) };
    const events: ClientEvent[] = [];
    const site = (s: AppSite, log: RequestLog) => ({ name: s.label, blobEndpoint: `http://127.0.0.1:${log.port}/${s.account}/`, sas: s.sas });
    const router = new FailoverRouter({
      sites: [site(sites.source, logs.source), site(sites.target, logs.target)], allowInsecureHttp: true,
      recheckAfterMs, minRecheckIntervalMs: Math.min(200, recheckAfterMs), fenceTimeoutMs: 2000,
      dualWrites: { containers: [syncContainer], mode: "best-effort" }, onEvent: (e) => events.push(e),
    });
    return new ApplicationLoop(router, logs, { source: sites.source.account, target: sites.target.account }, syncContainer, otherContainer, recheckAfterMs, events);
  }

  /** Lets the cached decision expire, so the next request reads the fences (what any request after that time does). */
  async waitForRecheck(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.recheckAfterMs + 100));
  }

  /** Runs one phase; returns the blobs it wrote successfully (for the drill's expectation) and its report. */
  async phase(name: string, o: PhaseOptions): Promise<{ written: KnownBlob[]; failedWrites: KnownBlob[]; report: AppPhaseReport }> {
    const mark = { source: this.logs.source.requests.length, target: this.logs.target.requests.length };
    const written: KnownBlob[] = [];
    const failedWrites: KnownBlob[] = [];
    const errors = new Set<string>();
    let ok = 0;
    for (let i = 0; i < o.iterations; i++) {
      const n = ++this.counter;
      const blobs: KnownBlob[] = [{ container: this.syncContainer, blob: orderBlob(`app-loop/${slug(name)}-${n}.json`, `written by the application (${name})`) }];
      if (o.other ?? true) blobs.push({ container: this.otherContainer, blob: orderBlob(`app-loop/${slug(name)}-${n}.json`, `written by the application (${name})`) });
      let failed = false;
      for (const k of blobs) {
        const wrote = await this.write(k).then(() => true, (err) => { errors.add(describe(err)); return false; });
        if (!wrote) { failed = true; failedWrites.push(k); continue; }
        written.push(k);
        const problem = await this.readBack(k).catch((err) => describe(err));
        if (problem) { errors.add(problem); failed = true; }
      }
      if (!failed) ok++;
    }
    const appRequests = (role: "source" | "target") => this.logs[role].since(mark[role]).filter((r) => !isFenceRead(r));
    const mirrored = (r: LoggedRequest) => (r.method === "PUT" || r.method === "DELETE") && r.path.startsWith(`/${this.accounts[o.passive]}/${this.syncContainer}/`);
    const report: AppPhaseReport = {
      phase: name,
      activeSite: await this.router.activeSite().then((s) => s.name, (err) => describe(err)),
      iterations: o.iterations, ok, failed: o.iterations - ok, errors: [...errors],
      requests: { source: appRequests("source").length, target: appRequests("target").length },
      toPassive: appRequests(o.passive).filter((r) => !mirrored(r)).length,
    };
    this.phases.push(report);
    if (report.toPassive) throw new Error(`the application sent ${report.toPassive} request(s) to the passive ${o.passive} during "${name}"`);
    if (o.expectFailure ? ok > 0 : ok < o.iterations) {
      throw new Error(`the application's "${name}" phase: ${ok} of ${o.iterations} iterations succeeded, expected ${o.expectFailure ? "none" : "all"}` +
        `${errors.size ? ` (${[...errors].join("; ")})` : ""}`);
    }
    return { written, failedWrites, report };
  }

  async write(k: KnownBlob): Promise<void> {
    const b: SampleBlob = k.blob;
    await this.service.getContainerClient(k.container).getBlockBlobClient(b.name).upload(b.body, b.body.length, {
      blobHTTPHeaders: {
        blobContentType: b.props.contentType, blobContentEncoding: b.props.contentEncoding, blobContentLanguage: b.props.contentLanguage,
        blobContentDisposition: b.props.contentDisposition, blobCacheControl: b.props.cacheControl,
      },
      metadata: { ...b.metadata },
    });
  }

  /** Reads a blob back through the router; a problem as a phrase, or undefined when bytes, properties and metadata match. */
  async readBack(k: KnownBlob): Promise<string | undefined> {
    const client = this.service.getContainerClient(k.container).getBlockBlobClient(k.blob.name);
    const props = await client.getProperties();
    const body = await client.downloadToBuffer();
    const problems = compareBlob(expectedView(k.blob), {
      size: body.length, sha256: sha256(body), metadata: props.metadata ?? {},
      props: { contentType: props.contentType, contentEncoding: props.contentEncoding, contentLanguage: props.contentLanguage, contentDisposition: props.contentDisposition, cacheControl: props.cacheControl },
    });
    return problems.length ? `${k.container}/${k.blob.name}: ${problems.join(", ")}` : undefined;
  }

  async stop(): Promise<void> {
    await this.logs.source.close();
    await this.logs.target.close();
  }
}

function slug(s: string): string {
  return s.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
}

function describe(err: unknown): string {
  if (err instanceof StackhubDrClientError) return `${err.name}: ${err.message.split(";")[0]}`;
  return describeError(err);
}
