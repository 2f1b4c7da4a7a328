import { BaseRequestPolicy, RequestPolicy, RequestPolicyFactory, RequestPolicyOptions, WebResource, HttpOperationResponse } from "@azure/storage-blob";

export const apiVersionPolicyName = "apiVersionPolicy";

/**
 * Pins `x-ms-version` on every request, so older Azure Stack Hub stamps (which accept 2017-11-09) understand each
 * one. The SDK writes its own, newer version during serialization; this policy runs after that and replaces it.
 */
export function apiVersionPolicy(version: string): RequestPolicyFactory {
  return {
    create(nextPolicy: RequestPolicy, options: RequestPolicyOptions): RequestPolicy {
      return new ApiVersionPolicy(nextPolicy, options, version);
    },
  };
}

class ApiVersionPolicy extends BaseRequestPolicy {
  constructor(next: RequestPolicy, options: RequestPolicyOptions, private readonly version: string) {
    super(next, options);
  }

  sendRequest(request: WebResource): Promise<HttpOperationResponse> {
    request.headers.set("x-ms-version", this.version);
    return this._nextPolicy.sendRequest(request);
  }
}
