import { BaseRequestPolicy, HttpOperationResponse, RequestPolicy, RequestPolicyFactory, RequestPolicyOptions, WebResource } from "@azure/storage-blob";

export const retryAfterPolicyName = "retryAfterPolicy";

/** Statuses whose Retry-After asks us to come back later, among those the SDK's retry policy retries. */
const BACK_OFF_STATUSES = new Set([500, 503]);

/**
 * Honours `Retry-After` on throttling and server-busy answers. The SDK's retry policy computes its own exponential
 * delay and ignores the header, so a busy stamp that asks for 30 s gets its next attempt after a fraction of a
 * second. This policy sits just inside the retry policy: it holds such an answer for the time the service asked
 * (at most `maxWaitMs`) before the retry policy sees it and adds its own delay on top. A cancelled run stops waiting.
 */
export function retryAfterPolicy(maxWaitMs: number): RequestPolicyFactory {
  return {
    create(nextPolicy: RequestPolicy, options: RequestPolicyOptions): RequestPolicy {
      return new RetryAfterPolicy(nextPolicy, options, maxWaitMs);
    },
  };
}

/** Milliseconds a Retry-After value asks for (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

class RetryAfterPolicy extends BaseRequestPolicy {
  constructor(next: RequestPolicy, options: RequestPolicyOptions, private readonly maxWaitMs: number) {
    super(next, options);
  }

  async sendRequest(request: WebResource): Promise<HttpOperationResponse> {
    const res = await this._nextPolicy.sendRequest(request);
    if (!BACK_OFF_STATUSES.has(res.status)) return res;
    const ms = retryAfterMs(res.headers.get("retry-after"));
    if (!ms) return res;
    await sleep(Math.min(ms, this.maxWaitMs), request.abortSignal);
    return res;
  }
}

function sleep(ms: number, signal: WebResource["abortSignal"]): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}
