import { BaseRequestPolicy, HttpOperationResponse, RequestPolicy, RequestPolicyFactory, RequestPolicyOptions, WebResource } from "@azure/storage-blob";

/**
 * Pins `x-ms-version` on every request of the client's own pipelines (fence reads, journal appends), so an Azure
 * Stack Hub stamp, which accepts 2017-11-09, understands each one. The SDK writes its newer version while
 * serializing; this policy runs after that and replaces it. (The failover policy pins the application's requests.)
 */
export function apiVersionPin(version: string): RequestPolicyFactory {
  return { create: (next: RequestPolicy, options: RequestPolicyOptions) => new ApiVersionPin(next, options, version) };
}

class ApiVersionPin extends BaseRequestPolicy {
  constructor(next: RequestPolicy, options: RequestPolicyOptions, private readonly version: string) {
    super(next, options);
  }

  sendRequest(request: WebResource): Promise<HttpOperationResponse> {
    request.headers.set("x-ms-version", this.version);
    return this._nextPolicy.sendRequest(request);
  }
}
