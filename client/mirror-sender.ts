import {
  createDefaultHttpClient, createHttpHeaders, createPipelineFromOptions, createPipelineRequest, HttpClient, Pipeline, PipelineResponse,
} from "@azure/core-rest-pipeline";
import { WebResource } from "@azure/storage-blob";
import { SITE_CONDITIONS } from "./operation";

const DROPPED: ReadonlySet<string> = new Set<string>([...SITE_CONDITIONS, "x-ms-client-request-id", "authorization", "host"]);

/**
 * Sends the copy of a write to the other site through a pipeline of its own (with its own retries): the same method,
 * body and headers, at another URL, minus what only means something at the active site (ETag and lease conditions).
 * The application's pipeline is not reused for it: the SDK's compatibility layer does not carry a request's
 * transport settings over to a copy.
 */
export class MirrorSender {
  private readonly pipeline: Pipeline;
  private readonly http: HttpClient;

  constructor(maxRetries: number) {
    this.pipeline = createPipelineFromOptions({ retryOptions: { maxRetries, retryDelayInMs: 200, maxRetryDelayInMs: 2000 } });
    this.http = createDefaultHttpClient();
  }

  async send(request: WebResource, url: string): Promise<PipelineResponse> {
    const headers = createHttpHeaders();
    for (const h of request.headers.headersArray()) if (!DROPPED.has(h.name.toLowerCase())) headers.set(h.name, h.value);
    const mirror = createPipelineRequest({
      url, method: request.method, headers, body: request.body as never, abortSignal: request.abortSignal,
      allowInsecureConnection: url.startsWith("http:"),
    });
    return this.pipeline.sendRequest(this.http, mirror);
  }
}
