import { PassThrough, Readable } from "node:stream";
import { RestError } from "@azure/core-rest-pipeline";
import { BaseRequestPolicy, HttpOperationResponse, RequestPolicy, RequestPolicyFactory, RequestPolicyOptions, WebResource } from "@azure/storage-blob";

export const tryTimeoutPolicyName = "tryTimeoutPolicy";

/**
 * Abandons one attempt of a request when the service sends nothing for `ms`: no response headers, or a response
 * body that goes quiet halfway. The SDK's own `tryTimeoutInMs` only asks the service to give up (a `timeout`
 * query parameter), so a stalled connection would hold a run forever. The error carries code ETIMEDOUT, which the
 * SDK's retry policy retries; a body that stalls fails its stream, which the SDK's download resumes from the
 * last byte received.
 */
export function tryTimeoutPolicy(ms: number): RequestPolicyFactory {
  return {
    create(nextPolicy: RequestPolicy, options: RequestPolicyOptions): RequestPolicy {
      return new TryTimeoutPolicy(nextPolicy, options, ms);
    },
  };
}

/** A RestError with code ETIMEDOUT: the only kind of thrown error the SDK's retry policy retries. */
export function tryTimeoutError(ms: number): Error {
  return new RestError(`no response from the service for ${ms / 1000}s (retry.tryTimeoutSeconds); the attempt was abandoned`, { code: "ETIMEDOUT" });
}

class TryTimeoutPolicy extends BaseRequestPolicy {
  constructor(next: RequestPolicy, options: RequestPolicyOptions, private readonly ms: number) {
    super(next, options);
  }

  async sendRequest(request: WebResource): Promise<HttpOperationResponse> {
    const outer = request.abortSignal;
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort();
    if (outer?.aborted) controller.abort();
    outer?.addEventListener("abort", onOuterAbort);
    const detach = () => outer?.removeEventListener("abort", onOuterAbort);
    request.abortSignal = controller.signal;
    let timedOut = false;
    let timer = setTimeout(() => { timedOut = true; controller.abort(); }, this.ms);
    let res: HttpOperationResponse;
    try {
      res = await this._nextPolicy.sendRequest(request);
    } catch (err) {
      clearTimeout(timer);
      detach();
      if (timedOut && !outer?.aborted) throw tryTimeoutError(this.ms);
      throw err;
    } finally {
      // The retry policy sends the same request again: the next attempt must not inherit this attempt's signal.
      request.abortSignal = outer;
    }
    clearTimeout(timer);
    const body = res.readableStreamBody as Readable | undefined;
    if (!body) {
      detach();
      return res;
    }
    // The body flows through a pass-through so its pauses can be timed without changing how the caller reads it.
    const out = new PassThrough();
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // A full buffer means the reader is the slow one, not the service.
        if (out.writableNeedDrain) return arm();
        body.destroy();
        out.destroy(tryTimeoutError(this.ms));
      }, this.ms);
    };
    const done = () => { clearTimeout(timer); detach(); };
    body.pipe(out);
    body.on("data", arm);
    body.once("end", done);
    body.once("error", (err) => { done(); out.destroy(err); });
    out.once("close", done);
    arm();
    res.readableStreamBody = out;
    return res;
  }
}
