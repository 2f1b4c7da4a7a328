import { BlobKind, BlobProps, normalizeEtag, RemoteBlob } from "../model/blob";

/** One page of a List Blobs response. */
export interface ListPage {
  readonly blobs: RemoteBlob[];
  /** Where the next page starts; absent on the last page. */
  readonly nextMarker?: string;
}

/** The response could not be read as a List Blobs page: never treated as an empty or shorter listing. */
export class ListXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListXmlError";
  }
}

/** Listing properties we carry, by their XML element name. */
const PROP_ELEMENTS: Readonly<Record<string, keyof BlobProps>> = {
  "Content-Type": "contentType",
  "Content-Encoding": "contentEncoding",
  "Content-Language": "contentLanguage",
  "Content-Disposition": "contentDisposition",
  "Cache-Control": "cacheControl",
  "Content-MD5": "contentMD5",
};

const BLOB_KINDS: ReadonlySet<string> = new Set<BlobKind>(["BlockBlob", "PageBlob", "AppendBlob"]);

/** A flat element: `<Tag>text</Tag>`, `<Tag attr="…">text</Tag>` or `<Tag/>`. Listing elements hold no child elements. */
const FLAT_ELEMENT = /<([A-Za-z_][\w.-]*)((?:\s[^>]*?)?)(?:\/>|>([^<]*)<\/\1\s*>)/g;

/**
 * Reads a List Blobs response body (`restype=container&comp=list&include=metadata`) in one pass, straight into
 * `RemoteBlob`s. The SDK's generic deserializer builds an XML tree, then a validated model, then we copy that:
 * on a quiet cycle that was 40% of the run's time and most of its garbage. Anything unexpected is an error,
 * never a silently shorter listing.
 */
export function parseListBlobsXml(xml: string): ListPage {
  if (!xml.includes("<EnumerationResults")) throw new ListXmlError("response is not a List Blobs result (no <EnumerationResults>)");
  const blobs: RemoteBlob[] = [];
  const blobsStart = xml.indexOf("<Blobs");
  const blobsEnd = xml.lastIndexOf("</Blobs>");
  let pos = blobsStart;
  if (blobsStart >= 0 && blobsEnd > blobsStart) {
    for (;;) {
      const start = xml.indexOf("<Blob>", pos);
      if (start < 0 || start > blobsEnd) break;
      const end = xml.indexOf("</Blob>", start);
      if (end < 0) throw new ListXmlError("a <Blob> element is not closed; the response was cut short");
      blobs.push(parseBlob(xml.slice(start + 6, end)));
      pos = end + 7;
    }
  } else if (blobsStart >= 0 && !/<Blobs\s*\/>/.test(xml)) {
    throw new ListXmlError("the <Blobs> element is not closed; the response was cut short");
  }
  if (!xml.includes("</EnumerationResults>")) throw new ListXmlError("the response ends before </EnumerationResults>; it was cut short");
  const next = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml);
  const nextMarker = next && next[1] ? decodeXml(next[1]) : undefined;
  return nextMarker ? { blobs, nextMarker } : { blobs };
}

function parseBlob(body: string): RemoteBlob {
  const nameMatch = /<Name((?:\s[^>]*)?)>([^<]*)<\/Name>/.exec(body);
  if (!nameMatch) throw new ListXmlError("a <Blob> element has no <Name>");
  // Newer service versions percent-encode names that XML cannot carry and flag them; 2017-11-09 never does.
  const name = /Encoded="true"/i.test(nameMatch[1]) ? decodeURIComponent(decodeXml(nameMatch[2])) : decodeXml(nameMatch[2]);

  const props: { -readonly [K in keyof BlobProps]?: string } = {};
  let etag = "";
  let size: number | undefined;
  let lastModified: string | undefined;
  let kind: BlobKind = "BlockBlob";
  const properties = section(body, "Properties");
  if (properties === undefined) throw new ListXmlError(`blob "${name}" has no <Properties>`);
  for (const m of properties.matchAll(FLAT_ELEMENT)) {
    const tag = m[1];
    const value = m[3] === undefined ? "" : decodeXml(m[3]);
    if (tag === "Content-Length") {
      size = Number(value);
      if (!Number.isSafeInteger(size) || size < 0) throw new ListXmlError(`blob "${name}" has Content-Length "${value}", expected a whole number`);
    } else if (tag === "Etag") etag = normalizeEtag(value);
    else if (tag === "Last-Modified") {
      const t = Date.parse(value);
      if (Number.isNaN(t)) throw new ListXmlError(`blob "${name}" has Last-Modified "${value}", expected an HTTP date`);
      lastModified = new Date(t).toISOString();
    } else if (tag === "BlobType") {
      if (!BLOB_KINDS.has(value)) throw new ListXmlError(`blob "${name}" has BlobType "${value}", expected BlockBlob, PageBlob or AppendBlob`);
      kind = value as BlobKind;
    } else {
      const key = PROP_ELEMENTS[tag];
      if (key && value) props[key] = value;
    }
  }
  if (!etag) throw new ListXmlError(`blob "${name}" has no Etag`);
  if (size === undefined) throw new ListXmlError(`blob "${name}" has no Content-Length`);

  const metadata: Record<string, string> = {};
  const meta = section(body, "Metadata");
  if (meta) for (const m of meta.matchAll(FLAT_ELEMENT)) metadata[m[1]] = m[3] === undefined ? "" : decodeXml(m[3]);

  return { name, etag, size, lastModified: lastModified ?? new Date(0).toISOString(), kind, props, metadata };
}

/** The inner text of `<tag>…</tag>` in `body`; "" for `<tag/>`; undefined when absent. */
function section(body: string, tag: string): string | undefined {
  const open = body.indexOf(`<${tag}>`);
  if (open < 0) return body.includes(`<${tag}/>`) || body.includes(`<${tag} />`) ? "" : undefined;
  const close = body.indexOf(`</${tag}>`, open);
  if (close < 0) throw new ListXmlError(`<${tag}> is not closed`);
  return body.slice(open + tag.length + 2, close);
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" };

/** Decodes XML character and entity references; an unknown entity is an error, not a guess. */
export function decodeXml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&([^;&\s]{1,10});/g, (whole, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isInteger(code) || code < 0 || code > 0x10ffff) throw new ListXmlError(`bad character reference ${whole}`);
      return String.fromCodePoint(code);
    }
    const named = NAMED_ENTITIES[ref];
    if (named === undefined) throw new ListXmlError(`unknown XML entity ${whole}`);
    return named;
  });
}
