import { BaseRequestPolicy, HttpOperationResponse, RequestPolicy, RequestPolicyFactory, RequestPolicyOptions, WebResource } from "@azure/storage-blob";
import { ActiveSiteResolver } from "./active-site";
import { DualWriteError, ReadOnlyClientError, UnsupportedDualWriteError } from "./errors";
import { MirrorSender } from "./mirror-sender";
import { MissRecord } from "./miss-journal";
import { classify, Operation, SITE_CONDITIONS } from "./operation";
import { ResolvedOptions } from "./options";
import { looksLikeSiteOutage } from "./outage";
import { describeFailure, failureOf } from "./service-failure";
import { scrubError } from "./redact";
import { locate, SiteLocation, urlAt } from "./site-url";

/** What the policy needs from its router. */
export interface RouterCore {
  readonly options: ResolvedOptions;
  readonly resolver: ActiveSiteResolver;
  /** Appends a miss to the journal at `site` (the active one). */
  journal(site: 0 | 1, record: MissRecord): Promise<void>;
  readonly mirrors: MirrorSender;
}

export const failoverPolicyName = "stackhubDrFailoverPolicy";

/**
 * The failover policy: every request to either site's endpoint is sent to the active site, with that site's SAS and
 * `x-ms-version` pinned; writes to a synchronous container are sent to both sites at once. With `pinned`, every
 * request goes to that one site and only reads are allowed (an explicit read from a passive site).
 */
export function failoverPolicy(core: RouterCore, pinned?: 0 | 1): RequestPolicyFactory {
  return { create: (next: RequestPolicy, options: RequestPolicyOptions) => new FailoverPolicy(next, options, core, pinned) };
}

type Attempt = { readonly response: HttpOperationResponse; readonly error?: undefined } | { readonly response?: undefined; readonly error: {} };

class FailoverPolicy extends BaseRequestPolicy {
  constructor(next: RequestPolicy, options: RequestPolicyOptions, private readonly core: RouterCore, private readonly pinned?: 0 | 1) {
    super(next, options);
  }

  async sendRequest(request: WebResource): Promise<HttpOperationResponse> {
    try {
      return await this.route(request);
    } catch (err) {
      throw scrubError(err, this.core.options.sites.map((s) => s.sas));
    }
  }

  private async route(request: WebResource): Promise<HttpOperationResponse> {
    const o = this.core.options;
    request.headers.set("x-ms-version", o.apiVersion);
    const loc = locate(request.url, o.sites);
    if (!loc) return this._nextPolicy.sendRequest(request);
    const op = classify(request.method, loc.query, (h) => request.headers.get(h), loc.blob !== undefined);
    if (this.pinned !== undefined) {
      if (op.kind !== "read") throw new ReadOnlyClientError(o.sites[this.pinned].name, request.method);
      request.url = urlAt(o.sites[this.pinned], loc);
      return this._nextPolicy.sendRequest(request);
    }
    const dual = op.kind !== "read" && op.kind !== "active-only" && o.synchronous.has(loc.container);
    if (dual && op.kind === "from-url" && o.dualWriteMode === "strict") {
      throw new UnsupportedDualWriteError(`${op.name} into the synchronous container "${loc.container}" was refused before it was sent: ` +
        "its bytes come from a URL, which the other site cannot be given as it is (server-side copy between stamps is not synchronous on Azure Stack Hub); " +
        "read the source and upload the bytes instead, or use best-effort mode");
    }
    const replayable = dual ? await makeReplayable(request) : !isOneShotStream(request.body);
    const active = await this.core.resolver.active();
    const first = await this.send(request, loc, op, active, dual);
    const firstFailure = failed(first);
    if (!firstFailure || !looksLikeSiteOutage(outcomeOf(firstFailure))) return settle(first);
    this.core.resolver.suspect(active);
    const now = await this.core.resolver.active();
    if (now === active || !replayable) return settle(first);
    o.onEvent({ kind: "rerouted", site: o.sites[now].name, message: `${op.name} failed at ${o.sites[active].name} (${describeFailure(failureOf(firstFailure))}); the fences now name ${o.sites[now].name}: sent there` });
    return settle(await this.send(request, loc, op, now, dual));
  }

  private async send(request: WebResource, loc: SiteLocation, op: Operation, active: 0 | 1, dual: boolean): Promise<Attempt> {
    const o = this.core.options;
    const other = (1 - active) as 0 | 1;
    if (!dual) {
      request.url = urlAt(o.sites[active], loc);
      return this.attempt(request);
    }
    // The other site has its own ETags and leases: a condition on the active site's state means nothing there, so
    // the active site decides it first and the other site is then written unconditionally.
    const conditional = SITE_CONDITIONS.some((h) => request.headers.get(h) !== undefined);
    const mirror = () => this.mirror(request, urlAt(o.sites[other], loc));
    request.url = urlAt(o.sites[active], loc);
    let primary: Attempt;
    let second: Attempt | undefined;
    if (op.kind === "from-url") {
      primary = await this.attempt(request);
    } else if (conditional) {
      primary = await this.attempt(request);
      if (!failed(primary)) second = await mirror();
    } else {
      [primary, second] = await Promise.all([this.attempt(request), mirror()]);
    }
    if (failed(primary)) return primary;
    if (second && mirrorSucceeded(second, op)) return primary;
    const failure = second ? failureOf(failed(second)) : { code: "NotMirrored" };
    const where = `${op.name} ${loc.container}${loc.blob !== undefined ? `/${loc.blob}` : ""}`;
    if (o.dualWriteMode === "strict") {
      return {
        error: new DualWriteError(`${where}: written at ${o.sites[active].name} but not at ${o.sites[other].name} (${describeFailure(failure)}); ` +
          `the call failed because "${loc.container}" is synchronous (strict). The active site holds the write; repeating the call writes both`,
        op.name, loc.container, loc.blob, o.sites[other].name, failure),
      };
    }
    const record: MissRecord = {
      v: 1, at: new Date(o.now()).toISOString(), written: o.sites[active].name, missed: o.sites[other].name,
      container: loc.container, ...(loc.blob !== undefined ? { blob: loc.blob } : {}), operation: op.name,
      failure: { ...(failure.statusCode ? { statusCode: failure.statusCode } : {}), ...(failure.code ? { code: failure.code } : {}) },
    };
    try {
      await this.core.journal(active, record);
    } catch (err) {
      return {
        error: new DualWriteError(`${where}: written at ${o.sites[active].name} but not at ${o.sites[other].name} (${describeFailure(failure)}), ` +
          `and the miss could not be journaled at ${o.sites[active].name} (${describeFailure(failureOf(err))}); the call failed so the miss is not silent`,
        op.name, loc.container, loc.blob, o.sites[other].name, failure),
      };
    }
    o.onEvent({ kind: "dual-write-miss", site: o.sites[active].name, message: `${where}: not at ${o.sites[other].name} (${describeFailure(failure)}); journaled at ${o.sites[active].name} for the next dr-sync cycle` });
    return primary;
  }

  private async mirror(request: WebResource, url: string): Promise<Attempt> {
    try {
      const r = await this.core.mirrors.send(request, url);
      return r.status >= 400 ? { error: { statusCode: r.status, response: { headers: r.headers } } } : { response: { status: r.status } as HttpOperationResponse };
    } catch (error) {
      return { error: error ?? new Error("the request failed without an error") };
    }
  }

  private async attempt(request: WebResource): Promise<Attempt> {
    try {
      return { response: await this._nextPolicy.sendRequest(request) };
    } catch (error) {
      return { error: error ?? new Error("the request failed without an error") };
    }
  }
}

/** A failed attempt: thrown, or (where the SDK did not turn it into an error) answered with an error status. */
function failed(a: Attempt): unknown {
  if (a.error !== undefined) return a.error;
  return a.response.status >= 400 ? { statusCode: a.response.status, response: { headers: a.response.headers } } : undefined;
}

function settle(a: Attempt): HttpOperationResponse {
  if (a.error !== undefined) throw a.error;
  return a.response;
}

function outcomeOf(err: unknown): { statusCode?: number; code?: string; name?: string } {
  const f = failureOf(err);
  return { statusCode: f.statusCode, code: (err as { code?: string })?.code ?? f.code, name: (err as Error)?.name };
}

/** Deleting what is already gone, or creating a container that exists, leaves the other site as wanted. */
function mirrorSucceeded(a: Attempt, op: Operation): boolean {
  const failure = failed(a);
  if (!failure) return true;
  const status = failureOf(failure).statusCode;
  if (status === 404 && op.name.startsWith("delete")) return true;
  return status === 409 && op.name === "create container";
}

function isOneShotStream(body: unknown): boolean {
  return typeof body === "object" && body !== null && typeof (body as { pipe?: unknown }).pipe === "function";
}

/**
 * A body sent twice (both sites, or again after a switch) must be readable twice. Buffers, strings and the SDK's
 * stream factories (`uploadFile`) are; a one-shot stream is read into memory first (one request body: at most a
 * block or a single-shot upload, as the application's SDK settings size them).
 */
async function makeReplayable(request: WebResource): Promise<true> {
  const body = request.body as unknown;
  if (isOneShotStream(body)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    request.body = Buffer.concat(chunks);
  }
  return true;
}
