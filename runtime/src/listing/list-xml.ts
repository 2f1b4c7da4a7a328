import { BlobKind, BlobProps, normalizeEtag, RemoteBlob } from "../model/blob";

/** One page of a List Blobs response. */
export interface ListPage {
  readonly blobs: RemoteBlob[];
  /** Where the next page starts; absent on the last page. */
  readonly nextMarker?: string;
  /** A delimiter listing's `BlobPrefix` names (each ends in the delimiter), in the order the page gives them. */
  readonly prefixes?: string[];
}

/** The response could not be read as a whole List Blobs page: never treated as an empty or shorter listing. */
export class ListXmlError extends Error {
  constructor(message: string, /** True when the body looks cut short, which another attempt may cure. */ readonly truncated = false) {
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

/**
 * One markup token: an XML declaration or comment (skipped), CDATA (refused: the service never sends it), or a
 * start, end or empty-element tag with its attributes. Text is what lies between tokens.
 */
const TOKEN = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|</g;

/** Where an element sits, by the names of its ancestors. */
const ROOT = "EnumerationResults";
const BLOBS = `${ROOT}/Blobs`;
const BLOB = `${BLOBS}/Blob`;
const PROPERTIES = `${BLOB}/Properties`;
const METADATA = `${BLOB}/Metadata`;
const BLOB_PREFIX = `${BLOBS}/BlobPrefix`;

interface BlobDraft {
  name?: string;
  etag: string;
  size?: number;
  lastModified?: string;
  kind: BlobKind;
  props: { -readonly [K in keyof BlobProps]?: string };
  metadata: Record<string, string>;
}

/**
 * Reads a List Blobs response body (`restype=container&comp=list&include=metadata`) in one pass, straight into
 * `RemoteBlob`s. The SDK's generic deserializer builds an XML tree, then a validated model, then we copied that:
 * on a quiet cycle that was 40% of the run's time and most of its garbage. Elements are recognised by their place
 * in the document, never by name alone, because metadata keys are element names too (a key may well be called
 * `Blob`, `Metadata` or `NextMarker`). Anything unexpected is an error, never a silently shorter listing.
 */
export function parseListBlobsXml(xml: string): ListPage {
  /** The path of each open element, root first ("EnumerationResults/Blobs/Blob/…"). */
  const open: string[] = [];
  const blobs: RemoteBlob[] = [];
  const prefixes: string[] = [];
  let sawPrefix = false;
  let blob: BlobDraft | undefined;
  let nextMarker: string | undefined;
  let sawBlobs = false;
  let closedRoot = false;
  /** The innermost open element while it has no child element: its end tag closes a value. */
  let leaf: { name: string; attrs: string; textStart: number } | undefined;

  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(xml); m; m = TOKEN.exec(xml)) {
    const token = m[0];
    if (token.startsWith("<?") || token.startsWith("<!--")) continue;
    if (token === "<![CDATA[") throw new ListXmlError("CDATA in a List Blobs response is not expected");
    if (m[2] === undefined) {
      if (xml.indexOf(">", m.index) < 0) throw new ListXmlError("the response ends inside a tag; it was cut short", true);
      throw new ListXmlError(`malformed markup at offset ${m.index}`);
    }
    if (closedRoot) throw new ListXmlError(`content after </${ROOT}>`);
    const [, slash, name, attrs, empty] = m;
    const path = open[open.length - 1] ?? "";

    if (!slash) {
      if (!path && name !== ROOT) throw new ListXmlError(`response is not a List Blobs result (root <${name}>)`);
      const parent = open[open.length - 2];
      if (leaf && (parent === PROPERTIES || parent === METADATA)) {
        throw new ListXmlError(`<${leaf.name}> in <${parent.split("/").pop()}> holds an element; a value was expected`);
      }
      if (path === BLOBS && name === "Blob") blob = { etag: "", kind: "BlockBlob", props: {}, metadata: Object.create(null) as Record<string, string> };
      if (path === ROOT && name === "Blobs") sawBlobs = true;
      if (path === BLOBS && name === "BlobPrefix") sawPrefix = true;
      if (empty) {
        onValue(path, name, attrs, "");
        leaf = undefined;
        continue;
      }
      open.push(path ? `${path}/${name}` : name);
      leaf = { name, attrs, textStart: TOKEN.lastIndex };
      continue;
    }

    if (!path.endsWith(`/${name}`) && path !== name) throw new ListXmlError(`</${name}> does not close <${path.split("/").pop() || "nothing"}>`);
    open.pop();
    const parent = open[open.length - 1] ?? "";
    if (leaf && leaf.name === name) onValue(parent, name, leaf.attrs, decodeXml(xml.slice(leaf.textStart, m.index)));
    leaf = undefined;
    if (parent === BLOBS && name === "Blob") {
      blobs.push(finish(blob!));
      blob = undefined;
    }
    if (!parent) closedRoot = true;
  }

  if (!closedRoot) throw new ListXmlError(`the response ends before </${ROOT}>; it was cut short`, true);
  if (!sawBlobs) throw new ListXmlError("the response has no <Blobs> element; it is not a List Blobs result");
  return { blobs, ...(nextMarker ? { nextMarker } : {}), ...(sawPrefix ? { prefixes } : {}) };

  /** An element without child elements, with its decoded text, in the element at `parent`. */
  function onValue(parent: string, name: string, attrs: string, text: string): void {
    if (parent === ROOT && name === "NextMarker") nextMarker = own(text) || undefined;
    else if (parent === BLOB && name === "Name") {
      // Newer service versions percent-encode names that XML cannot carry and flag them; 2017-11-09 never does.
      blob!.name = own(/\bEncoded\s*=\s*["']true["']/i.test(attrs) ? decodeURIComponent(text) : text);
    } else if (parent === BLOB_PREFIX && name === "Name") {
      prefixes.push(own(/\bEncoded\s*=\s*["']true["']/i.test(attrs) ? decodeURIComponent(text) : text));
    } else if (parent === PROPERTIES) property(blob!, name, text);
    else if (parent === METADATA) blob!.metadata[own(name)] = own(text);
  }
}

function property(blob: BlobDraft, tag: string, value: string): void {
  const what = () => `blob${blob.name === undefined ? "" : ` "${blob.name}"`}`;
  if (tag === "Content-Length") {
    const size = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(size)) throw new ListXmlError(`${what()} has Content-Length "${value}", expected a whole number`);
    blob.size = size;
  } else if (tag === "Etag") blob.etag = own(normalizeEtag(value));
  else if (tag === "Last-Modified") {
    const t = Date.parse(value);
    if (Number.isNaN(t)) throw new ListXmlError(`${what()} has Last-Modified "${value}", expected an HTTP date`);
    blob.lastModified = new Date(t).toISOString();
  } else if (tag === "BlobType") {
    if (!BLOB_KINDS.has(value)) throw new ListXmlError(`${what()} has BlobType "${value}", expected BlockBlob, PageBlob or AppendBlob`);
    blob.kind = value as BlobKind;
  } else {
    const key = PROP_ELEMENTS[tag];
    // An empty Content-Type is a value (Set Blob Properties can store one); left unset it would be written as application/octet-stream.
    if (key && (value || key === "contentType")) blob.props[key] = own(value);
  }
}

function finish(b: BlobDraft): RemoteBlob {
  if (b.name === undefined) throw new ListXmlError("a <Blob> element has no <Name>");
  if (!b.etag) throw new ListXmlError(`blob "${b.name}" has no Etag`);
  if (b.size === undefined) throw new ListXmlError(`blob "${b.name}" has no Content-Length`);
  return { name: b.name, etag: b.etag, size: b.size, lastModified: b.lastModified ?? new Date(0).toISOString(), kind: b.kind, props: b.props, metadata: b.metadata };
}

/**
 * A copy of `s` that does not share the page's memory. V8 returns substrings of 13+ characters as views into
 * the whole string they came from, so one kept blob name would keep its entire page (~1 KiB per blob) alive for
 * as long as the name lives: with a 100,000-blob container that was every page of both listings.
 */
function own(s: string): string {
  return s.length < 13 ? s : (" " + s).slice(1);
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
