import { ContainerClient, Pipeline } from "@azure/storage-blob";

/** The part of the SDK's core pipeline this module uses. */
interface CorePipeline {
  getOrderedPolicies(): { name: string }[];
  removePolicy(options: { name: string }): unknown;
}

/** The name of the SDK policy that turns FormData bodies into multipart requests (@typespec/ts-http-runtime). */
export const FORM_DATA_POLICY = "formDataPolicy";

/**
 * Removes the form-data policy from the core pipeline the SDK builds for `pipeline`. That policy's first request
 * reads the global `FormData`, which makes Node.js load its fetch implementation (undici): 35-75 ms measured here
 * before every run's first request, for request bodies dr-sync never sends. The SDK builds the core pipeline once
 * per `Pipeline`, with the first client (`_corePipeline`, a private field of @azure/storage-blob 12.x); if a
 * release moves it, nothing is removed and requests work as before, only slower to start:
 * `__tests__/runtime-requests.test.ts` fails loudly then. Returns whether the policy is gone.
 */
export function withoutFormData(pipeline: Pipeline, anyContainerUrl: string): boolean {
  // A client's constructor makes the SDK build (and cache) the core pipeline.
  new ContainerClient(anyContainerUrl, pipeline);
  const core = (pipeline as unknown as { _corePipeline?: CorePipeline })._corePipeline;
  if (!core || typeof core.removePolicy !== "function" || typeof core.getOrderedPolicies !== "function") return false;
  core.removePolicy({ name: FORM_DATA_POLICY });
  return !core.getOrderedPolicies().some((p) => p.name === FORM_DATA_POLICY);
}
