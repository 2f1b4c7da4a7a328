import { ContainerClient, Pipeline } from "@azure/storage-blob";

/** The part of the SDK's core pipeline this module uses. */
interface CorePipeline {
  removePolicy(options: { name: string }): unknown;
}

/**
 * SDK policies (@azure/core-rest-pipeline, @typespec/ts-http-runtime) that cost every run something for a feature
 * dr-sync does not use:
 * - `formDataPolicy` turns FormData bodies into multipart requests. Its first request reads the global `FormData`,
 *   which makes Node.js load its fetch implementation (undici): 35-75 ms measured here before every run's first
 *   request, for request bodies dr-sync never sends.
 * - `tracingPolicy` opens an OpenTelemetry span per request. With no tracer installed (the bundle has none) the span
 *   goes nowhere, but the policy first sanitizes the request's URL for it: about 30 µs per request measured here,
 *   0.5 ms for the first, so 0.3 s of CPU on a first copy of 5,000 blobs.
 */
export const UNUSED_POLICIES = ["formDataPolicy", "tracingPolicy"] as const;

/**
 * Removes `UNUSED_POLICIES` from the core pipeline the SDK builds for `pipeline`. The SDK builds it once per
 * `Pipeline`, with the first client (`_corePipeline`, a private field of @azure/storage-blob 12.x); if a release
 * moves it, nothing is removed and requests work as before, only slower: `__tests__/runtime-requests.test.ts` and
 * `__tests__/runtime-pipeline-policies.test.ts` fail loudly then.
 */
export function withoutUnusedPolicies(pipeline: Pipeline, anyContainerUrl: string): void {
  // A client's constructor makes the SDK build (and cache) the core pipeline.
  new ContainerClient(anyContainerUrl, pipeline);
  const core = (pipeline as unknown as { _corePipeline?: CorePipeline })._corePipeline;
  if (!core || typeof core.removePolicy !== "function") return;
  for (const name of UNUSED_POLICIES) core.removePolicy({ name });
}
