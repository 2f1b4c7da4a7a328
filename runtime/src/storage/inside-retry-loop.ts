import { RequestPolicy, RequestPolicyFactory } from "@azure/storage-blob";

/**
 * A no-op factory that makes @azure/storage-blob (12.x) run our custom policies inside its retry loop, once per
 * attempt. The SDK puts custom (v1-style) factories in front of its retry policy, so a per-try timeout would span
 * every attempt and a Retry-After wait would come after the retry; when one of them is an `InjectorPolicyFactory`
 * (the SDK's own hook, recognised by the constructor's name) it puts all of them after the retry policy instead.
 * `__tests__/runtime-pipeline-policies.test.ts` fails if an SDK upgrade changes that.
 */
export function insideRetryLoop(): RequestPolicyFactory {
  return new InjectorPolicyFactory();
}

class InjectorPolicyFactory implements RequestPolicyFactory {
  create(nextPolicy: RequestPolicy): RequestPolicy {
    return nextPolicy;
  }
}
// The SDK compares the name; a bundler may rename the class to avoid a clash, so the name is pinned.
Object.defineProperty(InjectorPolicyFactory, "name", { value: "InjectorPolicyFactory" });
