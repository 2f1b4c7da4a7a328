import { StringDecoder } from "node:string_decoder";
import { ContainerClient } from "@azure/storage-blob";
import { createPipelineRequest, PipelineRequest, PipelineResponse, RestError } from "@azure/core-rest-pipeline";
import { isTransient } from "../storage/errors";
import { RemoteBlob } from "../model/blob";
import { decodeXml, ListPageEnd, ListXmlError, listXmlBlobs, parseListBlobsXml } from "./list-xml";

export interface ListPageQuery {
  readonly prefix?: string;
  /** Lists one level: names up to and including the delimiter's first occurrence after `prefix` come back as one `BlobPrefix`. */
  readonly delimiter?: string;
  readonly marker?: string;
  readonly maxResults: number;
  readonly signal?: AbortSignal;
}

/** A page as it arrived: its blobs are read from the text as they are taken, once (`listXmlBlobs`). */
export interface FetchedListPage {
  /** The service's Date header: when it answered, by its clock. */
  readonly date?: Date;
  /**
   * The NextMarker as read from the body's end without parsing the blobs before it (a `<` in any text is escaped, so
   * the last `<NextMarker>` tag is the root's): what the next page can be asked for while this one is walked. Only a
   * hint: `end()` is the page's word, and a listing whose hint differs from it fetches again with the real marker.
   */
  readonly nextMarkerHint?: string;
  /** The page's blobs, in its order; one pass. */
  readonly blobs: Iterable<RemoteBlob>;
  /** What follows the blobs (reads past any not taken yet). */
  end(): ListPageEnd;
}

/** The part of the SDK's service client we use: send one request through the container client's whole pipeline. */
interface RequestSender {
  sendRequest(request: PipelineRequest): Promise<PipelineResponse>;
}

/**
 * Sends one List Blobs request through the container client's own pipeline (retries, per-try timeout, the pinned
 * `x-ms-version`, keep-alive: everything the other requests get) and parses the page with `parseListBlobsXml`.
 * Only the response handling differs from `listBlobsFlat`. A non-2xx answer becomes the same `RestError` the SDK
 * throws (status, service error code, request id), so callers tell "not found" from "forbidden" as before.
 */
export async function fetchListPage(client: ContainerClient, query: ListPageQuery): Promise<FetchedListPage> {
  const url = new URL(client.url);
  url.searchParams.set("restype", "container");
  url.searchParams.set("comp", "list");
  url.searchParams.set("include", "metadata");
  url.searchParams.set("maxresults", String(query.maxResults));
  if (query.prefix) url.searchParams.set("prefix", query.prefix);
  if (query.delimiter) url.searchParams.set("delimiter", query.delimiter);
  if (query.marker) url.searchParams.set("marker", query.marker);
  for (let attempt = 1; ; attempt++) {
    const request = createPipelineRequest({
      url: url.toString(), method: "GET", abortSignal: query.signal,
      // The SDK sets this per operation; the config check has already refused http:// unless allowInsecureHttp is on.
      allowInsecureConnection: url.protocol === "http:",
      // A streamed body skips the pipeline's generic XML parse, which is the cost this module exists to avoid.
      streamResponseStatusCodes: new Set([200]),
    });
    let xml: string;
    let response: PipelineResponse;
    try {
      response = await senderOf(client).sendRequest(request);
      if (response.status !== 200) throw serviceError(request, response, response.bodyAsText ?? "");
      xml = await readText(response.readableStreamBody);
      // Checked before any blob is given: one cut short is fetched again, and must not have given half a page. A
      // body that does not plainly end whole is parsed through first, which refuses one cut anywhere.
      if (!endsWhole(xml)) parseListBlobsXml(xml);
    } catch (err) {
      // The pipeline retried the request; a body that breaks off (reset, stall) or ends early (a service that timed
      // out on its side) is fetched again here, from the same marker.
      const again = isTransient(err) || (err instanceof ListXmlError && err.truncated);
      if (attempt < BODY_ATTEMPTS && again && !query.signal?.aborted) continue;
      throw err;
    }
    const dateHeader = response.headers.get("date");
    const date = dateHeader ? new Date(dateHeader) : undefined;
    return lazyPage(xml, date && !Number.isNaN(date.getTime()) ? date : undefined, nextMarkerHint(xml));
  }
}

/** A page whose blobs are parsed as they are taken. One found malformed partway stays so: every later read of it
 *  throws the same error, never a shorter page. */
function lazyPage(xml: string, date: Date | undefined, hint: string | undefined): FetchedListPage {
  const it = listXmlBlobs(xml);
  let ended: ListPageEnd | undefined;
  let failed: { err: unknown } | undefined;
  const next = (): IteratorResult<RemoteBlob, ListPageEnd> => {
    if (failed) throw failed.err;
    if (ended) return { done: true, value: ended };
    try {
      const r = it.next();
      if (r.done) ended = r.value;
      return r;
    } catch (err) {
      failed = { err };
      throw err;
    }
  };
  return {
    date,
    nextMarkerHint: hint,
    blobs: { [Symbol.iterator]: () => ({ next }) },
    end() {
      while (!next().done) { /* the rest of the page's blobs, not taken */ }
      return ended!;
    },
  };
}

/** The text of the body's last `<NextMarker>` element, decoded; undefined when there is none, it is empty, or it
 *  does not decode (the parser refuses that one when the page is walked). */
export function nextMarkerHint(xml: string): string | undefined {
  const open = xml.lastIndexOf("<NextMarker>");
  if (open < 0) return undefined;
  const close = xml.indexOf("</NextMarker>", open);
  if (close < 0) return undefined;
  try {
    return decodeXml(xml.slice(open + "<NextMarker>".length, close)) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the body ends with the root's end tag right after the blobs or the NextMarker (white space between):
 * what a body cut anywhere cannot. `</EnumerationResults>` alone is not enough, as a metadata key may have that
 * name; but a metadata value holds only text (its `<` escaped), so no element's end tag ever comes right before
 * that key's end tag.
 */
export function endsWhole(xml: string): boolean {
  return WHOLE_END.test(xml.slice(-WHOLE_END_TAIL));
}

const WHOLE_END = /(?:<\/Blobs>|<Blobs\s*\/>|<\/NextMarker>|<NextMarker\s*\/>)\s*<\/EnumerationResults>\s*$/;
/** Enough of the body's end for WHOLE_END (white space around the tags, which the services never pad much). */
const WHOLE_END_TAIL = 256;

/** Attempts at reading one page's body, after the pipeline's own retries got a response: a page that cannot be read
 *  fails its whole container for the run, so it gets more chances than one blob does. */
const BODY_ATTEMPTS = 5;

/**
 * The body as text, each chunk decoded as it arrives and let go: a 5,000-blob page is ~4 MB, and holding its
 * chunks, then their concatenation, then the string kept three copies of it alive at once, two of them outside
 * V8's heap, where the C allocator keeps the high-water mark as resident memory.
 */
async function readText(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return "";
  const decoder = new StringDecoder("utf8");
  const parts: string[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) parts.push(typeof chunk === "string" ? chunk : decoder.write(chunk));
  parts.push(decoder.end());
  return parts.join("");
}

/**
 * The container client's service client. `storageClientContext` is the SDK's (12.x) protected field holding it;
 * `__tests__/runtime-list-xml.test.ts` fails loudly if an SDK upgrade moves it.
 */
function senderOf(client: ContainerClient): RequestSender {
  const sender = (client as unknown as { storageClientContext?: RequestSender }).storageClientContext;
  if (!sender || typeof sender.sendRequest !== "function") {
    throw new Error("@azure/storage-blob no longer exposes storageClientContext.sendRequest; the listing cannot be sent");
  }
  return sender;
}

function serviceError(request: PipelineRequest, response: PipelineResponse, body: string): RestError {
  const code = response.headers.get("x-ms-error-code") ?? /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1]?.replace(/&[a-z]+;/g, " ").trim() || `List Blobs answered ${response.status}`;
  const err = new RestError(message, { code, statusCode: response.status, request, response });
  // The shape `storage/errors.ts` reads, as the SDK fills it for its own operations.
  (err as RestError & { details: unknown }).details = { errorCode: code, requestId: response.headers.get("x-ms-request-id") };
  return err;
}
