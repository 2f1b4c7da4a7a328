import { BlobKind, BlobProps, normalizeEtag, RemoteBlob } from "../model/blob";

/** What a List Blobs page says after its blobs. */
export interface ListPageEnd {
  /** Where the next page starts; absent on the last page. */
  readonly nextMarker?: string;
  /** A delimiter listing's `BlobPrefix` names (each ends in the delimiter), in the order the page gives them. */
  readonly prefixes?: string[];
}

/** One page of a List Blobs response, read whole. */
export interface ListPage extends ListPageEnd {
  readonly blobs: RemoteBlob[];
}

/** The response could not be read as a whole List Blobs page: never treated as an empty or shorter listing. */
export class ListXmlError extends Error {
  constructor(message: string, /** True when the body looks cut short, which another attempt may cure. */ readonly truncated = false) {
    super(message);
    this.name = "ListXmlError";
  }
}

const BLOB_KINDS: ReadonlySet<string> = new Set<BlobKind>(["BlockBlob", "PageBlob", "AppendBlob"]);

/**
 * Where an element sits, as a small number: the parser keeps one per open element instead of a path string.
 * Every state from `META` up is a value inside `<Properties>` or `<Metadata>`, which may not hold an element.
 */
const ROOT = 1, BLOBS = 2, BLOB = 3, PROPERTIES = 4, METADATA = 5, BLOB_PREFIX = 6, OTHER = 7, NEXT_MARKER = 8,
  BLOB_NAME = 9, PREFIX_NAME = 10, META = 11, P_IGNORED = 12, P_LENGTH = 13, P_ETAG = 14, P_MODIFIED = 15, P_BLOB_TYPE = 16,
  P_LEASE_STATE = 17, P_CONTENT_TYPE = 18, P_CONTENT_ENCODING = 19, P_CONTENT_LANGUAGE = 20, P_CONTENT_DISPOSITION = 21,
  P_CACHE_CONTROL = 22, P_CONTENT_MD5 = 23;
const ROOT_NAME = "EnumerationResults";

/** The `BlobProps` key each carried property's state sets, by `state - P_CONTENT_TYPE` (element names: `propertyState`). */
const PROP_KEYS: readonly (keyof BlobProps)[] = ["contentType", "contentEncoding", "contentLanguage", "contentDisposition", "cacheControl", "contentMD5"];

/** `[A-Za-z0-9_.:-]`, the characters of an element name after its first (`[A-Za-z_]`). */
const NAME_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) NAME_CHAR[c] = /[\w.:-]/.test(String.fromCharCode(c)) ? 1 : 0;
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isNameChar = (c: number) => c < 128 && NAME_CHAR[c] === 1;

/** JavaScript's `\s`, as in the regular expression whose grammar the scanner keeps. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f ||
    c === 0x3000 || c === 0xfeff;
}

/** `[^\s=/>]`: a character of an attribute's name (NaN, past the end, is none). */
const isAttrNameChar = (c: number) => c === c && c !== 61 && c !== 47 && c !== 62 && !isSpace(c);

const ENCODED = /\bEncoded\s*=\s*["']true["']/i;

/**
 * Reads a List Blobs response body (`restype=container&comp=list&include=metadata`) in one pass, straight into
 * `RemoteBlob`s. The SDK's generic deserializer builds an XML tree, then a validated model, then we copied that:
 * on a quiet cycle that was 40% of the run's time and most of its garbage. Elements are recognised by their place
 * in the document, never by name alone, because metadata keys are element names too (a key may well be called
 * `Blob`, `Metadata` or `NextMarker`). Anything unexpected is an error, never a silently shorter listing.
 *
 * It accepts exactly the markup its earlier tokenizing regular expression did: `<?…?>` and `<!--…-->` (skipped),
 * `<![CDATA[` (refused), and tags `<(/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>`;
 * any other `<` is an error. It scans by hand, keeps a small state number per open element instead of a path string
 * and reads lengths, dates and blob types in place, because the parse runs after a page's last byte, so its cost
 * adds straight to the cycle's time: that took a 5,000-blob page from ~15 to ~5 µs per blob.
 */
export function parseListBlobsXml(xml: string): ListPage {
  const blobs: RemoteBlob[] = [];
  const it = listXmlBlobs(xml);
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) return { blobs, ...r.value };
    blobs.push(r.value);
  }
}

/**
 * `parseListBlobsXml` a blob at a time: each is given as its `</Blob>` is read, and what follows the blobs is the
 * generator's return value. A page's 5,000 blobs were all alive until the last was used, so every one of them
 * survived V8's young-generation collections, which made V8 grow that generation (64 MiB at two listings streamed
 * at once); given one at a time, each dies young. An error found later in the page is thrown after the blobs
 * before it were given, as a page that fails after the previous ones: callers take a listing that breaks off as
 * incomplete (nothing is deleted for it). A body cut short is refused before any blob (`list-page-request.ts`).
 */
export function* listXmlBlobs(xml: string): Generator<RemoteBlob, ListPageEnd, void> {
  /** Per open element, root first: its state and where its name lies in `xml`. */
  const states: number[] = [];
  const nameStarts: number[] = [];
  const nameEnds: number[] = [];
  let depth = 0;
  const prefixes: string[] = [];
  let sawPrefix = false;
  let nextMarker: string | undefined;
  let sawBlobs = false;
  let closedRoot = false;
  /** True while the innermost open element has no child element: its end tag closes a value. */
  let leaf = false;
  let textStart = 0;
  let leafAttrStart = 0, leafAttrEnd = 0;
  /** Where the next `&` is at or after the text being read (`xml.length` if none): text without one needs no decoding. */
  let nextAmp = -1;

  // The blob being read; reset at each <Blob>.
  let name: string | undefined, etag = "", size: number | undefined, lastModified: string | undefined, kind: BlobKind = "BlockBlob";
  let leased = false;
  let props: { -readonly [K in keyof BlobProps]?: string } = {};
  let metadata = Object.create(null) as Record<string, string>;
  /** Last-Modified as ISO, by the service's text: blobs written in the same second share one, and parsing a date is slow. */
  const isoByHttpDate = new Map<string, string>();
  let lastHttpDate = "", lastIso = "";

  let at = 0;
  for (;;) {
    const lt = xml.indexOf("<", at);
    if (lt < 0) break;
    const c1 = xml.charCodeAt(lt + 1);
    if (c1 === 63 /* ? */) {
      const end = xml.indexOf("?>", lt + 2);
      if (end < 0) badMarkup(lt);
      at = end + 2;
      continue;
    }
    if (c1 === 33 /* ! */) {
      if (xml.startsWith("<!--", lt)) {
        const end = xml.indexOf("-->", lt + 4);
        if (end < 0) badMarkup(lt);
        at = end + 3;
        continue;
      }
      if (xml.startsWith("<![CDATA[", lt)) throw new ListXmlError("CDATA in a List Blobs response is not expected");
      badMarkup(lt);
    }
    const closing = c1 === 47 /* / */;
    const ns = closing ? lt + 2 : lt + 1;
    if (!isNameStart(xml.charCodeAt(ns))) badMarkup(lt);
    let p = ns + 1;
    while (isNameChar(xml.charCodeAt(p))) p++;
    const ne = p;
    // Attributes: each one is whitespace, a name, `=`, and a quoted value; `attrEnd` is where the last one ends.
    let attrEnd = ne;
    for (;;) {
      let q = p;
      while (isSpace(xml.charCodeAt(q))) q++;
      if (q === p || !isAttrNameChar(xml.charCodeAt(q))) {
        p = q;
        break;
      }
      q++;
      while (isAttrNameChar(xml.charCodeAt(q))) q++;
      while (isSpace(xml.charCodeAt(q))) q++;
      if (xml.charCodeAt(q) !== 61 /* = */) badMarkup(lt);
      q++;
      while (isSpace(xml.charCodeAt(q))) q++;
      const quote = xml.charCodeAt(q);
      if (quote !== 34 && quote !== 39) badMarkup(lt);
      const close = xml.indexOf(quote === 34 ? "\"" : "'", q + 1);
      if (close < 0) badMarkup(lt);
      p = attrEnd = close + 1;
    }
    const empty = xml.charCodeAt(p) === 47 /* / */;
    if (empty) p++;
    if (xml.charCodeAt(p) !== 62 /* > */) badMarkup(lt);
    at = p + 1;
    if (closedRoot) throw new ListXmlError(`content after </${ROOT_NAME}>`);

    if (!closing) {
      const parent = depth ? states[depth - 1] : 0;
      const state = parent ? childState(parent, ns, ne) : rootState(ns, ne);
      if (state === BLOB) {
        name = undefined; etag = ""; size = undefined; lastModified = undefined; kind = "BlockBlob"; leased = false;
        props = {};
        metadata = Object.create(null) as Record<string, string>;
      } else if (state === BLOBS) sawBlobs = true;
      else if (state === BLOB_PREFIX) sawPrefix = true;
      if (empty) {
        onValue(state, ns, ne, ne, attrEnd, "");
        leaf = false;
        continue;
      }
      states[depth] = state;
      nameStarts[depth] = ns;
      nameEnds[depth] = ne;
      depth++;
      leaf = true;
      textStart = at;
      leafAttrStart = ne;
      leafAttrEnd = attrEnd;
      continue;
    }

    if (!depth) throw new ListXmlError(`</${xml.slice(ns, ne)}> does not close <nothing>`);
    const top = depth - 1, ts = nameStarts[top], te = nameEnds[top];
    let same = te - ts === ne - ns;
    for (let i = 0; same && i < ne - ns; i++) same = xml.charCodeAt(ts + i) === xml.charCodeAt(ns + i);
    if (!same) throw new ListXmlError(`</${xml.slice(ns, ne)}> does not close <${xml.slice(ts, te)}>`);
    depth = top;
    const state = states[top];
    if (leaf) {
      if (nextAmp < textStart) nextAmp = ampAtOrAfter(textStart);
      if (nextAmp < lt) onValue(state, ts, te, leafAttrStart, leafAttrEnd, decodeXml(xml.slice(textStart, lt)));
      else onText(state, ts, te, leafAttrStart, leafAttrEnd, textStart, lt);
    }
    leaf = false;
    if (state === BLOB) {
      if (name === undefined) throw new ListXmlError("a <Blob> element has no <Name>");
      if (!etag) throw new ListXmlError(`blob "${name}" has no Etag`);
      if (size === undefined) throw new ListXmlError(`blob "${name}" has no Content-Length`);
      const blob = { name, etag, size, lastModified: lastModified ?? EPOCH, kind, props, metadata };
      yield leased ? { ...blob, leased: true } : blob;
    }
    if (!depth) closedRoot = true;
  }

  if (!closedRoot) throw new ListXmlError(`the response ends before </${ROOT_NAME}>; it was cut short`, true);
  if (!sawBlobs) throw new ListXmlError("the response has no <Blobs> element; it is not a List Blobs result");
  return { ...(nextMarker ? { nextMarker } : {}), ...(sawPrefix ? { prefixes } : {}) };

  /** Any `<` that starts no token we accept: a body cut inside a tag may be cured by another attempt. */
  function badMarkup(lt: number): never {
    if (xml.indexOf(">", lt) < 0) throw new ListXmlError("the response ends inside a tag; it was cut short", true);
    throw new ListXmlError(`malformed markup at offset ${lt}`);
  }

  function ampAtOrAfter(from: number): number {
    const i = xml.indexOf("&", from);
    return i < 0 ? xml.length : i;
  }

  /** `name` is the element's name at `xml[ns, ne)`. */
  function isName(name: string, ns: number, ne: number): boolean {
    return ne - ns === name.length && xml.startsWith(name, ns);
  }

  function rootState(ns: number, ne: number): number {
    if (!isName(ROOT_NAME, ns, ne)) throw new ListXmlError(`response is not a List Blobs result (root <${xml.slice(ns, ne)}>)`);
    return ROOT;
  }

  /** The state of an element named `xml[ns, ne)` whose parent is in `parent`. */
  function childState(parent: number, ns: number, ne: number): number {
    switch (parent) {
      case ROOT: return isName("Blobs", ns, ne) ? BLOBS : isName("NextMarker", ns, ne) ? NEXT_MARKER : OTHER;
      case BLOBS: return isName("Blob", ns, ne) ? BLOB : isName("BlobPrefix", ns, ne) ? BLOB_PREFIX : OTHER;
      case BLOB: return isName("Name", ns, ne) ? BLOB_NAME : isName("Properties", ns, ne) ? PROPERTIES : isName("Metadata", ns, ne) ? METADATA : OTHER;
      case PROPERTIES: return propertyState(ns, ne);
      case METADATA: return META;
      case BLOB_PREFIX: return isName("Name", ns, ne) ? PREFIX_NAME : OTHER;
    }
    if (parent >= META) {
      const top = depth - 1;
      throw new ListXmlError(`<${xml.slice(nameStarts[top], nameEnds[top])}> in <${parent === META ? "Metadata" : "Properties"}> holds an element; a value was expected`);
    }
    return OTHER;
  }

  function propertyState(ns: number, ne: number): number {
    switch (ne - ns) {
      case 4: return isName("Etag", ns, ne) ? P_ETAG : P_IGNORED;
      case 8: return isName("BlobType", ns, ne) ? P_BLOB_TYPE : P_IGNORED;
      case 10: return isName("LeaseState", ns, ne) ? P_LEASE_STATE : P_IGNORED;
      case 11: return isName("Content-MD5", ns, ne) ? P_CONTENT_MD5 : P_IGNORED;
      case 12: return isName("Content-Type", ns, ne) ? P_CONTENT_TYPE : P_IGNORED;
      case 13: return isName("Last-Modified", ns, ne) ? P_MODIFIED : isName("Cache-Control", ns, ne) ? P_CACHE_CONTROL : P_IGNORED;
      case 14: return isName("Content-Length", ns, ne) ? P_LENGTH : P_IGNORED;
      case 16: return isName("Content-Encoding", ns, ne) ? P_CONTENT_ENCODING : isName("Content-Language", ns, ne) ? P_CONTENT_LANGUAGE : P_IGNORED;
      case 19: return isName("Content-Disposition", ns, ne) ? P_CONTENT_DISPOSITION : P_IGNORED;
    }
    return P_IGNORED;
  }

  /**
   * A value whose text `xml[from, to)` holds no reference: the common cases are read in place, without a string
   * for what is only checked; everything else goes through `onValue`.
   */
  function onText(state: number, ns: number, ne: number, as: number, ae: number, from: number, to: number): void {
    if (state === P_IGNORED || state === OTHER) return;
    if (state === P_LENGTH) {
      let n = 0;
      for (let i = from; i < to; i++) {
        const d = xml.charCodeAt(i) - 48;
        if (d < 0 || d > 9 || n > Number.MAX_SAFE_INTEGER) return onValue(state, ns, ne, as, ae, xml.slice(from, to));
        n = n * 10 + d;
      }
      if (to === from || n > Number.MAX_SAFE_INTEGER) return onValue(state, ns, ne, as, ae, xml.slice(from, to));
      size = n;
    } else if (state === P_MODIFIED && lastIso && to - from === lastHttpDate.length && xml.startsWith(lastHttpDate, from)) {
      lastModified = lastIso;
    } else if (state === P_BLOB_TYPE && isName("BlockBlob", from, to)) {
      kind = "BlockBlob";
    } else if (state === P_LEASE_STATE) {
      // A lease still holds while it is being broken: writes and deletes without its ID fail either way.
      leased = isName("leased", from, to) || isName("breaking", from, to);
    } else onValue(state, ns, ne, as, ae, xml.slice(from, to));
  }

  /** An element without child elements, named `xml[ns, ne)` with attributes `xml[as, ae)`, and its decoded text. */
  function onValue(state: number, ns: number, ne: number, as: number, ae: number, text: string): void {
    switch (state) {
      case NEXT_MARKER: nextMarker = own(text) || undefined; return;
      // Newer service versions percent-encode names that XML cannot carry and flag them; 2017-11-09 never does.
      case BLOB_NAME: name = own(ae > as && ENCODED.test(xml.slice(as, ae)) ? decodeURIComponent(text) : text); return;
      case PREFIX_NAME: prefixes.push(own(ae > as && ENCODED.test(xml.slice(as, ae)) ? decodeURIComponent(text) : text)); return;
      case META: metadata[own(xml.slice(ns, ne))] = own(text); return;
      case P_LENGTH: {
        const n = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new ListXmlError(`${what()} has Content-Length "${text}", expected a whole number`);
        size = n;
        return;
      }
      case P_ETAG: etag = own(normalizeEtag(text)); return;
      case P_MODIFIED: {
        let iso = isoByHttpDate.get(text);
        if (iso === undefined) {
          const t = Date.parse(text);
          if (Number.isNaN(t)) throw new ListXmlError(`${what()} has Last-Modified "${text}", expected an HTTP date`);
          iso = new Date(t).toISOString();
          isoByHttpDate.set(text, iso);
        }
        lastModified = iso;
        lastHttpDate = text;
        lastIso = iso;
        return;
      }
      case P_LEASE_STATE: leased = text === "leased" || text === "breaking"; return;
      case P_BLOB_TYPE:
        if (!BLOB_KINDS.has(text)) throw new ListXmlError(`${what()} has BlobType "${text}", expected BlockBlob, PageBlob or AppendBlob`);
        kind = text as BlobKind;
        return;
    }
    if (state >= P_CONTENT_TYPE) {
      const key = PROP_KEYS[state - P_CONTENT_TYPE];
      // An empty Content-Type is a value (Set Blob Properties can store one); left unset it would be written as application/octet-stream.
      if (text || key === "contentType") props[key] = own(text);
    }
  }

  function what(): string {
    return `blob${name === undefined ? "" : ` "${name}"`}`;
  }
}

const EPOCH = new Date(0).toISOString();

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
