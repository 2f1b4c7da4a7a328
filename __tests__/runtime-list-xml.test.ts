import { createServer, IncomingHttpHeaders } from "node:http";
import { AddressInfo } from "node:net";
import { ContainerClient } from "@azure/storage-blob";
import { ListingStart, listBlobs } from "../runtime/src/listing/blob-lister";
import { endsWhole, fetchListPage, nextMarkerHint } from "../runtime/src/listing/list-page-request";
import { decodeXml, ListXmlError, listXmlBlobs, parseListBlobsXml } from "../runtime/src/listing/list-xml";
import { normalizeEtag, RemoteBlob } from "../runtime/src/model/blob";
import { SiteClient } from "../runtime/src/storage/site-client";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";
import { seed, SeedBlob } from "./support/harness";

const retry = { maxTries: 3, retryDelayMs: 10, maxRetryDelayMs: 50, tryTimeoutSeconds: 10 };

function page(blobs: string, tail = "<NextMarker/>"): string {
  return `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://h/" ContainerName="c"><MaxResults>5000</MaxResults><Blobs>${blobs}</Blobs>${tail}</EnumerationResults>`;
}

const ONE = "<Blob><Name>a &amp; b/&#x1F600;&lt;x&gt;</Name><Properties><Last-Modified>Thu, 26 Nov 2026 03:33:58 GMT</Last-Modified>" +
  "<Etag>0x8D9</Etag><Content-Length>12</Content-Length><Content-Type>text/plain; charset=&quot;utf-8&quot;</Content-Type>" +
  "<Content-Encoding /><Content-Language>de</Content-Language><Content-MD5>SfaKXIST7CwL9ImCHCH8Ow==</Content-MD5>" +
  "<Cache-Control>no-cache</Cache-Control><Content-Disposition>attachment; filename=&quot;a&amp;b.txt&quot;</Content-Disposition>" +
  "<BlobType>PageBlob</BlobType><LeaseStatus>unlocked</LeaseStatus></Properties>" +
  "<Metadata><Foo>bar &amp; &lt;baz&gt;</Foo><empty/><Spaced>  two  </Spaced></Metadata></Blob>";

describe("parseListBlobsXml", () => {
  test("reads names, properties and metadata with every XML escape", () => {
    const p = parseListBlobsXml(page(ONE));
    expect(p.nextMarker).toBeUndefined();
    expect(p.blobs).toEqual<RemoteBlob[]>([{
      name: "a & b/😀<x>", etag: "0x8D9", size: 12, lastModified: "2026-11-26T03:33:58.000Z", kind: "PageBlob",
      props: {
        contentType: "text/plain; charset=\"utf-8\"", contentLanguage: "de", contentMD5: "SfaKXIST7CwL9ImCHCH8Ow==",
        cacheControl: "no-cache", contentDisposition: "attachment; filename=\"a&b.txt\"",
      },
      metadata: { Foo: "bar & <baz>", empty: "", Spaced: "  two  " },
    }]);
  });

  test("keeps whitespace in names exactly, reads markers, and an empty page", () => {
    const blob = "<Blob><Name> sp ace. </Name><Properties><Etag>\"0x1\"</Etag><Content-Length>0</Content-Length><BlobType>BlockBlob</BlobType></Properties><Metadata /></Blob>";
    const p = parseListBlobsXml(page(blob, "<NextMarker>2!8!b&amp;c</NextMarker>"));
    expect(p.blobs.map((b) => [b.name, b.etag, b.size, b.metadata, b.props])).toEqual([[" sp ace. ", "0x1", 0, {}, {}]]);
    expect(p.nextMarker).toBe("2!8!b&c");
    expect(parseListBlobsXml(page("")).blobs).toEqual([]);
    expect(parseListBlobsXml(`<?xml version="1.0"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>`).blobs).toEqual([]);
  });

  /** A blob whose metadata is `meta` (raw XML inside <Metadata>). */
  const withMeta = (name: string, meta: string) =>
    `<Blob><Name>${name}</Name><Properties><Etag>0x1</Etag><Content-Length>1</Content-Length><BlobType>BlockBlob</BlobType></Properties><Metadata>${meta}</Metadata></Blob>`;

  test("metadata keys named like the listing's own elements are metadata, never structure", () => {
    const meta = "<NextMarker>zzz</NextMarker><Metadata>m</Metadata><Blob>b</Blob><Blobs>x</Blobs><Name>n</Name>" +
      "<EnumerationResults>y</EnumerationResults><Properties>p</Properties><Etag>e</Etag><__proto__>q</__proto__><empty/>";
    const p = parseListBlobsXml(page(withMeta("a", meta) + withMeta("b", "<k>v</k>"), "<NextMarker>c</NextMarker>"));
    expect(p.nextMarker).toBe("c");
    expect(p.blobs.map((b) => b.name)).toEqual(["a", "b"]);
    expect(Object.entries(p.blobs[0].metadata)).toEqual([
      ["NextMarker", "zzz"], ["Metadata", "m"], ["Blob", "b"], ["Blobs", "x"], ["Name", "n"], ["EnumerationResults", "y"],
      ["Properties", "p"], ["Etag", "e"], ["__proto__", "q"], ["empty", ""],
    ]);
    expect(p.blobs[0].etag).toBe("0x1");
    expect(p.blobs[1].metadata).toEqual({ k: "v" });
  });

  test("an empty metadata value written as a pair does not end the listing", () => {
    const p = parseListBlobsXml(page(withMeta("a", "<NextMarker></NextMarker>") + withMeta("b", "")));
    expect(p.blobs.map((b) => b.name)).toEqual(["a", "b"]);
    expect(p.nextMarker).toBeUndefined();
  });

  test("a body that ends cleanly after a blob whose metadata mimics the closing elements is still cut short", () => {
    const cut = page(withMeta("a", "<Blobs>x</Blobs><EnumerationResults>y</EnumerationResults>") + withMeta("b", "")).replace(/<\/Blobs><NextMarker\/><\/EnumerationResults>$/, "");
    expect(() => parseListBlobsXml(cut)).toThrow(/cut short/);
  });

  test("decodes names the service flags as percent-encoded", () => {
    const blob = "<Blob><Name Encoded=\"true\">bell%07name</Name><Properties><Etag>0x2</Etag><Content-Length>1</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>";
    expect(parseListBlobsXml(page(blob)).blobs[0].name).toBe("bell\u0007name");
  });

  test.each([
    ["a body cut short inside a blob", page(ONE).slice(0, 200)],
    ["a body cut short after the blobs", page(ONE).replace("</EnumerationResults>", "")],
    ["something that is not a listing", "<Error><Code>Oops</Code></Error>"],
    ["a blob without an ETag", page(ONE.replace("<Etag>0x8D9</Etag>", ""))],
    ["a blob without a length", page(ONE.replace("<Content-Length>12</Content-Length>", ""))],
    ["a length that is no number", page(ONE.replace("<Content-Length>12<", "<Content-Length>12x<"))],
    ["an unknown blob type", page(ONE.replace(">PageBlob<", ">FancyBlob<"))],
    ["an unknown entity", page(ONE.replace("&amp; b", "&nbsp; b"))],
    ["an answer without <Blobs> (a container listing)", "<?xml version=\"1.0\"?><EnumerationResults><Containers/></EnumerationResults>"],
    ["a metadata value that holds an element", page(ONE.replace("<Foo>bar &amp; &lt;baz&gt;</Foo>", "<Foo><x>1</x></Foo>"))],
    ["mismatched tags", page(ONE.replace("</Properties>", "</Props>"))],
    ["CDATA", page(ONE.replace("<Content-Language>de</Content-Language>", "<Content-Language><![CDATA[de]]></Content-Language>"))],
  ])("refuses %s instead of returning a shorter listing", (_what, xml) => {
    expect(() => parseListBlobsXml(xml)).toThrow(ListXmlError);
  });

  /** A blob with the given raw `<Properties>` content (Etag and Content-Length first unless overridden) and raw metadata. */
  const blobXml = (o: { name?: string; nameTag?: string; props?: string; meta?: string; open?: string } = {}) =>
    `${o.open ?? "<Blob>"}${o.nameTag ?? `<Name>${o.name ?? "b"}</Name>`}<Properties>${o.props ?? ""}<Etag>0x1</Etag><Content-Length>1</Content-Length></Properties>` +
    `<Metadata>${o.meta ?? ""}</Metadata></Blob>`;

  test.each<[string, string, Partial<RemoteBlob>]>([
    ["metadata keys named Properties, Blob, BlobPrefix and Content-Length", blobXml({ meta: "<Properties>p</Properties><Blob>b</Blob><BlobPrefix>x/</BlobPrefix><Content-Length>abc</Content-Length>" }),
      { size: 1, metadata: { Properties: "p", Blob: "b", BlobPrefix: "x/", "Content-Length": "abc" } }],
    ["self-closing metadata keys named like structure", blobXml({ meta: "<Blob/><Metadata/><Properties />" }), { metadata: { Blob: "", Metadata: "", Properties: "" } }],
    ["an Encoded attribute in single quotes", blobXml({ nameTag: "<Name Encoded='true'>a%2Fb%E2%82%AC</Name>" }), { name: "a/b€" }],
    ["an attribute value holding > and /", blobXml({ nameTag: "<Name hint=\"a>b/\">n</Name>", open: "<Blob x='1/>2'>" }), { name: "n" }],
    ["a name with Encoded=\"false\", as it is", blobXml({ nameTag: "<Name Encoded=\"false\">a%2F</Name>" }), { name: "a%2F" }],
    ["whitespace inside start and end tags", blobXml({ nameTag: "<Name\t>n\n</Name\n >", props: "<Content-Type \r\n>t</Content-Type\t><BlobType >AppendBlob</BlobType >" }),
      { name: "n\n", kind: "AppendBlob", props: { contentType: "t" } }],
    ["self-closing elements in Properties, keeping an empty Content-Type and no other empty value", blobXml({ props: "<Content-Type/><Content-Encoding /><Cache-Control></Cache-Control><LeaseStatus/>" }),
      { props: { contentType: "" } }],
    ["comments and processing instructions between elements", blobXml({ nameTag: "<!-- c --><Name>n</Name><?pi x?>", meta: "<k>v</k><!--<k>w</k>-->" }), { name: "n", metadata: { k: "v" } }],
    ["Properties whose elements are named like Object.prototype's members, ignoring them", blobXml({ props: "<constructor>x</constructor><__proto__>y</__proto__><toString>z</toString>" }), { props: {} }],
    ["a Content-Length written with a character reference and leading zeros", blobXml({ props: "<Etag>0x2</Etag><Content-Length>&#49;002</Content-Length>" }).replace("<Etag>0x1</Etag><Content-Length>1</Content-Length>", ""),
      { size: 1002, etag: "0x2" }],
    ["the largest safe Content-Length", blobXml({ props: "<Content-Length>9007199254740991</Content-Length>" }).replace("<Content-Length>1</Content-Length>", ""), { size: 9007199254740991 }],
    ["an ETag in quotes and a weak one", blobXml({ props: "<Etag>W/\"0x3\"</Etag>" }).replace("<Etag>0x1</Etag>", ""), { etag: "0x3" }],
    ["unknown properties with references and odd element names", blobXml({ props: "<Lease.State>a &amp; b</Lease.State><x:y-z_9>1</x:y-z_9>", meta: "<_k9>v</_k9>" }), { props: {}, metadata: { _k9: "v" } }],
  ])("reads %s", (_what, blob, expected) => {
    const p = parseListBlobsXml(page(blob));
    expect(p.blobs).toHaveLength(1);
    expect(p.blobs[0]).toMatchObject(expected);
    if (expected.props) expect(p.blobs[0].props).toEqual(expected.props);
    if (expected.metadata) expect(p.blobs[0].metadata).toEqual(expected.metadata);
  });

  test("each blob gets its own Last-Modified and BlobType, also when neighbours share or alternate them", () => {
    const dates = ["Thu, 26 Nov 2026 03:33:58 GMT", "Thu, 26 Nov 2026 03:33:58 GMT", "Fri, 27 Nov 2026 00:00:01 GMT", "Thu, 26 Nov 2026 03:33:58 GMT", undefined];
    const kinds = ["BlockBlob", "PageBlob", "BlockBlob", "AppendBlob", undefined];
    const p = parseListBlobsXml(page(dates.map((d, i) => blobXml({
      name: `n${i}`, props: (d ? `<Last-Modified>${d}</Last-Modified>` : "") + (kinds[i] ? `<BlobType>${kinds[i]}</BlobType>` : ""),
    })).join("")));
    expect(p.blobs.map((b) => [b.lastModified, b.kind])).toEqual([
      ["2026-11-26T03:33:58.000Z", "BlockBlob"], ["2026-11-26T03:33:58.000Z", "PageBlob"], ["2026-11-27T00:00:01.000Z", "BlockBlob"],
      ["2026-11-26T03:33:58.000Z", "AppendBlob"], ["1970-01-01T00:00:00.000Z", "BlockBlob"],
    ]);
  });

  test("a blob someone holds a lease on is flagged, and only that blob (a lease being broken still holds)", () => {
    const states = ["leased", "available", "breaking", "broken", "expired", "le&#x61;sed", undefined];
    const p = parseListBlobsXml(page(states.map((st, i) => blobXml({
      name: `n${i}`, props: `<LeaseStatus>${st === "leased" ? "locked" : "unlocked"}</LeaseStatus>` + (st ? `<LeaseState>${st}</LeaseState>` : ""),
    })).join("")));
    expect(p.blobs.map((b) => b.leased ?? false)).toEqual([true, false, true, false, false, true, false]);
    expect(Object.keys(p.blobs[1])).not.toContain("leased");
  });

  test("NextMarker counts only as the root's child; BlobPrefix names are read, flagged encoding included", () => {
    const p = parseListBlobsXml(page(
      `<BlobPrefix><Name>a/</Name></BlobPrefix><NextMarker>in-blobs</NextMarker><BlobPrefix><Name Encoded="true">b%07/</Name></BlobPrefix>` +
      blobXml({ nameTag: "<Name>n</Name><NextMarker>in-blob</NextMarker>" }),
      "<Extra><NextMarker>nested</NextMarker></Extra><NextMarker>m1</NextMarker>"));
    expect(p.nextMarker).toBe("m1");
    expect(p.prefixes).toEqual(["a/", "b\u0007/"]);
    expect(p.blobs.map((b) => b.name)).toEqual(["n"]);
    expect(parseListBlobsXml(page(blobXml())).prefixes).toBeUndefined();
  });

  const full = page(blobXml({ nameTag: "<Name Encoded=\"true\">some-long-blob-name</Name>", props: "<Last-Modified>Thu, 26 Nov 2026 03:33:58 GMT</Last-Modified>", meta: "<k>value &amp; more</k>" }));
  const cutAt = (marker: string, extra = 0) => full.slice(0, full.indexOf(marker) + extra);

  test.each<[string, string, RegExp, boolean]>([
    ["a page cut right after a <", cutAt("<Properties>", 1), /ends inside a tag; it was cut short/, true],
    ["a page cut mid-name of a tag", cutAt("<Properties>", 5), /ends inside a tag; it was cut short/, true],
    ["a page cut inside an attribute value", cutAt("Encoded=\"true\"", 11), /ends inside a tag; it was cut short/, true],
    ["a page cut mid-text", cutAt("some-long-blob-name", 4), /ends before <\/EnumerationResults>; it was cut short/, true],
    ["a page cut mid-date", cutAt("03:33:58 GMT", 3), /ends before <\/EnumerationResults>; it was cut short/, true],
    ["a page cut mid-reference", cutAt("&amp; more", 3), /ends before <\/EnumerationResults>; it was cut short/, true],
    ["a page cut inside a closing tag", cutAt("</Metadata>", 4), /ends inside a tag; it was cut short/, true],
    ["a page cut inside a comment", page(blobXml()).replace("<Blob>", "<!-- a comment"), /malformed markup/, false],
    ["a comment never closed at the end", full.replace("</EnumerationResults>", "<!-- x"), /ends inside a tag; it was cut short/, true],
    ["an unquoted attribute", page(blobXml({ nameTag: "<Name Encoded=true>n</Name>" })), /malformed markup at offset \d+/, false],
    ["an attribute without a value", page(blobXml({ nameTag: "<Name Encoded>n</Name>" })), /malformed markup at offset \d+/, false],
    ["whitespace after <", page(blobXml({ nameTag: "< Name>n</Name>" })), /malformed markup at offset \d+/, false],
    ["a tag name that starts with a digit", page(blobXml({ meta: "<1k>v</1k>" })), /malformed markup at offset \d+/, false],
    ["a metadata key named Properties that holds an element", page(blobXml({ meta: "<Properties><x/></Properties>" })), /<Properties> in <Metadata> holds an element/, false],
    ["a metadata key named Blob that holds a Name", page(blobXml({ meta: "<Blob><Name>x</Name></Blob>" })), /<Blob> in <Metadata> holds an element/, false],
    ["a property that holds an element", page(blobXml({ props: "<Content-Type><b>t</b></Content-Type>" })), /<Content-Type> in <Properties> holds an element/, false],
    ["an ignored property that holds an element", page(blobXml({ props: "<LeaseStatus><b/></LeaseStatus>" })), /<LeaseStatus> in <Properties> holds an element/, false],
    ["an end tag that closes another element", page(blobXml({ meta: "<k>v</K>" })), /<\/K> does not close <k>/, false],
    ["an end tag before the root", `</Blobs>${page("")}`, /<\/Blobs> does not close <nothing>/, false],
    ["content after the root", `${page("")}<Blob/>`, /content after <\/EnumerationResults>/, false],
    ["an empty Last-Modified", page(blobXml({ props: "<Last-Modified></Last-Modified>" })), /has Last-Modified "", expected an HTTP date/, false],
    ["a self-closing Last-Modified after a good one", page(blobXml({ name: "a", props: "<Last-Modified>Thu, 26 Nov 2026 03:33:58 GMT</Last-Modified>" }) + blobXml({ name: "z", props: "<Last-Modified/>" })),
      /blob "z" has Last-Modified ""/, false],
    ["a Content-Length one past the largest safe integer", page(blobXml({ props: "<Content-Length>9007199254740992</Content-Length>" }).replace("<Content-Length>1</Content-Length>", "")), /Content-Length "9007199254740992"/, false],
    ["an empty Content-Length", page(blobXml({ props: "<Content-Length/>" }).replace("<Content-Length>1</Content-Length>", "")), /Content-Length "", expected a whole number/, false],
    ["a negative Content-Length", page(blobXml({ props: "<Content-Length>-1</Content-Length>" }).replace("<Content-Length>1</Content-Length>", "")), /Content-Length "-1"/, false],
    ["a Content-Length with a space", page(blobXml({ props: "<Content-Length> 1</Content-Length>" }).replace("<Content-Length>1</Content-Length>", "")), /Content-Length " 1"/, false],
    ["an unknown entity in a property nobody reads", page(blobXml({ props: "<LeaseState>&nbsp;</LeaseState>" })), /unknown XML entity &nbsp;/, false],
    ["a character reference beyond Unicode", page(blobXml({ meta: "<k>&#x110000;</k>" })), /bad character reference &#x110000;/, false],
    ["CDATA in metadata", page(blobXml({ meta: "<k><![CDATA[v]]></k>" })), /CDATA in a List Blobs response is not expected/, false],
    ["a Blob with no Name", page(blobXml({ nameTag: "" })), /a <Blob> element has no <Name>/, false],
    ["a blob whose Name holds an element", page(blobXml({ nameTag: "<Name><x/></Name>" })), /a <Blob> element has no <Name>/, false],
  ])("refuses %s with a ListXmlError that says so", (_what, xml, message, truncated) => {
    let caught: unknown;
    try {
      parseListBlobsXml(xml);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ListXmlError);
    expect((caught as ListXmlError).message).toMatch(message);
    expect((caught as ListXmlError).truncated).toBe(truncated);
  });

  test("listXmlBlobs gives each blob as its element closes, and an error later in the page only after them", () => {
    const bad = ONE.replace("<Content-Length>12</Content-Length>", "<Content-Length>twelve</Content-Length>").replace("a &amp; b", "bad");
    const it = listXmlBlobs(page(ONE + bad, "<NextMarker>m</NextMarker>"));
    const first = it.next();
    expect(first.done ? undefined : first.value.name).toBe("a & b/😀<x>");
    expect(() => it.next()).toThrow(/blob "bad\/😀<x>" has Content-Length "twelve", expected a whole number/);
    const whole = listXmlBlobs(page(ONE, "<NextMarker>m</NextMarker>"));
    expect(whole.next().done).toBe(false);
    expect(whole.next()).toEqual({ done: true, value: { nextMarker: "m" } });
  });

  test("decodeXml leaves text without references alone and decodes decimal references", () => {
    expect(decodeXml("plain")).toBe("plain");
    expect(decodeXml("&#65;&#x42;&apos;")).toBe("AB'");
  });
});

/** A loopback server answering with `handler`, and a site client pointed at it, for one test's body. */
/** A fake List Blobs handler: notes each request's marker (null for none) and answers the page `pageFor` gives. */
function pagesByMarker(asked: (string | null)[], pageFor: (marker: string | null) => string): Parameters<typeof createServer>[1] {
  return (req, res) => {
    const marker = new URL(req.url!, "http://h").searchParams.get("marker");
    asked.push(marker);
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(pageFor(marker));
  };
}

async function withFakeService(handler: Parameters<typeof createServer>[1], body: (client: SiteClient) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    const port = (server.address() as AddressInfo).port;
    await body(new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry }));
  } finally {
    server.close();
  }
}

describe("endsWhole: a body that plainly ends whole, read without a check parse", () => {
  test.each([
    ["a page ending with its NextMarker", page(ONE), true],
    ["a page with a marker to follow", page(ONE, "<NextMarker>2!8!b</NextMarker>"), true],
    ["a page without NextMarker, ending with its blobs", page(ONE, ""), true],
    ["an empty page", "<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>\r\n", true],
    ["a body cut right after a metadata key named EnumerationResults", `<EnumerationResults><Blobs><Blob><Metadata><EnumerationResults>v</EnumerationResults>`, false],
    ["that key with an empty value", `<EnumerationResults><Blobs><Blob><Metadata><Blobs></Blobs><EnumerationResults></EnumerationResults>`, false],
    ["a body cut after a blob", page(ONE).replace("</Blobs><NextMarker/></EnumerationResults>", ""), false],
    ["text after the root", `${page(ONE)}x`, false],
  ])("%s: %s", (_what, xml, whole) => {
    expect(endsWhole(xml)).toBe(whole);
  });
});

describe("nextMarkerHint: the marker read from the body's end, to ask for the next page early", () => {
  test.each([
    ["a page with a marker to follow", page(ONE, "<NextMarker>2!8!b</NextMarker>"), "2!8!b"],
    ["a marker with escaped characters", page(ONE, "<NextMarker>a&amp;b&lt;c</NextMarker>"), "a&b<c"],
    ["the last page (self-closing)", page(ONE), undefined],
    ["the last page (empty element)", page(ONE, "<NextMarker></NextMarker>"), undefined],
    ["no NextMarker at all", page(ONE, ""), undefined],
    // Only a hint: the parser's NextMarker decides, and the listing checks the two agree.
    ["a metadata key named NextMarker on the last page", page(ONE.replace("<Foo>", "<NextMarker>v</NextMarker><Foo>")), "v"],
    ["a marker that does not decode", page(ONE, "<NextMarker>a&bogus;</NextMarker>"), undefined],
    ["a body cut inside the marker", page(ONE, "<NextMarker>abc").slice(0, -"</EnumerationResults>".length), undefined],
  ])("%s", (_what, xml, hint) => {
    expect(nextMarkerHint(xml)).toBe(hint);
  });
});

describe("pages asked for ahead", () => {
  /** A service of `pages` pages of one blob each (markers m1, m2, ...); records each request's marker and whether its
   *  client went away before the answer. */
  const paged = (pages: number, tail?: (n: number) => string) => {
    const asked: { marker: string; closedEarly: boolean }[] = [];
    const handler: Parameters<typeof createServer>[1] = (req, res) => {
      const marker = new URL(req.url!, "http://x").searchParams.get("marker") ?? "";
      const n = marker ? Number(marker.slice(1)) : 0;
      const rec = { marker, closedEarly: false };
      asked.push(rec);
      res.on("close", () => { if (!res.writableFinished) rec.closedEarly = true; });
      const answer = () => {
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(page(ONE.replace("a &amp; b", `p${n}`), tail ? tail(n) : n + 1 < pages ? `<NextMarker>m${n + 1}</NextMarker>` : "<NextMarker/>"));
      };
      // Page 2 and later take a while: a consumer that stops meanwhile leaves a request in flight.
      if (n >= 2) setTimeout(answer, 300); else answer();
    };
    return { asked, handler };
  };

  test("the next page is asked for while the one before is still being walked, and the listing is whole and in order", async () => {
    const svc = paged(4);
    await withFakeService(svc.handler, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) {
        // Hold the first page's blob until its next page was asked for: without asking ahead this never ends.
        if (names.length === 0) await waitUntil(() => svc.asked.length >= 2);
        names.push(b.name.split("/")[0]);
      }
      expect(names).toEqual(["p0", "p1", "p2", "p3"]);
      expect(svc.asked.map((a) => a.marker)).toEqual(["", "m1", "m2", "m3"]);
    });
  });

  test("a consumer that stops early: the page asked for ahead is cancelled, nothing is left failing unhandled", async () => {
    const svc = paged(4);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      await withFakeService(svc.handler, async (client) => {
        for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) {
          // Page 2 has been asked for (it answers late): stop with it in flight.
          if (b.name.startsWith("p1")) {
            await waitUntil(() => svc.asked.length === 3);
            break;
          }
        }
        await waitUntil(() => svc.asked[2].closedEarly);
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(svc.asked.map((a) => a.marker)).toEqual(["", "m1", "m2"]);
      expect(svc.asked[2].closedEarly).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("a hint the page's own NextMarker contradicts is dropped: the listing follows the parsed marker only", async () => {
    // Page 1 is the last page, but one of its blobs has a metadata key named NextMarker ("m9"): the hint says m9,
    // the page's own end says there is no next page. A listing that followed the hint would go on to page 9.
    const svc = paged(2, (n) => (n === 0 ? "<NextMarker>m1</NextMarker>" : "<NextMarker/>"));
    const handler: Parameters<typeof createServer>[1] = (req, res) => {
      const marker = new URL(req.url!, "http://x").searchParams.get("marker") ?? "";
      if (marker !== "m1") return svc.handler(req, res);
      svc.asked.push({ marker, closedEarly: false });
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(page(ONE.replace("a &amp; b", "p1").replace("<Foo>", "<NextMarker>m9</NextMarker><Foo>")));
    };
    await withFakeService(handler, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name.split("/")[0]);
      expect(names).toEqual(["p0", "p1"]);
      // m9 may have been asked for ahead (or cancelled before it left); nothing of it was listed.
      expect(svc.asked.slice(0, 2).map((a) => a.marker)).toEqual(["", "m1"]);
    });
  });
  test("a page asked ahead on a hint the page contradicts is cancelled when it is dropped, not left open until the listing ends", async () => {
    // Each page puts its own NextMarker first (the parser takes it anywhere under the root) and carries a blob whose
    // metadata key NextMarker says x<n>: the hint is x<n>, the page says m<n+1>. The x<n> requests are never answered.
    const asked: { marker: string; closedEarly: boolean }[] = [];
    const handler: Parameters<typeof createServer>[1] = (req, res) => {
      const marker = new URL(req.url!, "http://x").searchParams.get("marker") ?? "";
      const rec = { marker, closedEarly: false };
      asked.push(rec);
      res.on("close", () => { if (!res.writableFinished) rec.closedEarly = true; });
      if (marker.startsWith("x")) return; // held open
      const n = marker ? Number(marker.slice(1)) : 0;
      const blob = ONE.replace("a &amp; b", `p${n}`).replace("<Foo>", `<NextMarker>x${n}</NextMarker><Foo>`);
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://h/" ContainerName="c"><MaxResults>5000</MaxResults>` +
        `${n < 2 ? `<NextMarker>m${n + 1}</NextMarker>` : "<NextMarker/>"}<Blobs>${blob}</Blobs></EnumerationResults>`);
    };
    await withFakeService(handler, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) {
        names.push(b.name.split("/")[0]);
        // On page 1, hold until its stray request (x1) reached the service; on page 2, x1 was dropped when m2 was
        // fetched and must be closed by now (a stray cancelled before it left is never seen).
        if (names.length === 2) await waitUntil(() => asked.some((a) => a.marker === "x1"));
        if (names.length === 3) await waitUntil(() => asked.some((a) => a.marker === "x1" && a.closedEarly));
      }
      expect(names).toEqual(["p0", "p1", "p2"]);
      expect(asked.filter((a) => !a.marker.startsWith("x")).map((a) => a.marker)).toEqual(["", "m1", "m2"]);
    });
  });
  test("a container that answers 404 after its first page is a listing broken off, not an empty container, even where a missing container counts as empty", async () => {
    const svc = paged(3);
    const handler: Parameters<typeof createServer>[1] = (req, res) => {
      if ((new URL(req.url!, "http://x").searchParams.get("marker") ?? "") !== "m1") return svc.handler(req, res);
      res.writeHead(404, { "content-type": "application/xml", "x-ms-error-code": "ContainerNotFound" });
      res.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>ContainerNotFound</Code><Message>gone</Message></Error>`);
    };
    await withFakeService(handler, async (client) => {
      const names: string[] = [];
      let missing = 0;
      const listing = (async () => {
        for await (const b of listBlobs(client.container("c"), "c", { side: "destination", sasEnv: "X", missing: "empty", onMissing: () => missing++ })) names.push(b.name.split("/")[0]);
      })();
      await expect(listing).rejects.toThrow(/destination container "c" was not found part way through its listing; nothing was copied or deleted for it/);
      expect(names).toEqual(["p0"]);
      expect(missing).toBe(0);
    });
  });
});

/** Resolves once `cond` holds; fails the test after 5 s. */
async function waitUntil(cond: () => boolean): Promise<void> {
  const until = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not reached within 5 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("listing through the pipeline", () => {
  test("pins x-ms-version, sends the query, retries a 503, follows markers and reads the service's Date", async () => {
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    let calls = 0;
    const server = createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      calls++;
      if (calls === 1) {
        res.writeHead(503, { "x-ms-error-code": "ServerBusy" });
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/xml", date: "Thu, 26 Nov 2026 01:00:00 GMT" });
      const marker = new URL(req.url!, "http://x").searchParams.get("marker");
      res.end(marker ? page(ONE.replace("a &amp; b", "second")) : page(ONE, "<NextMarker>m2</NextMarker>"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
      const starts: ListingStart[] = [];
      const names: string[] = [];
      const before = Date.now();
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error", prefix: "a ", onStart: (s) => starts.push(s) })) names.push(b.name);
      const after = Date.now();
      expect(names).toEqual(["a & b/😀<x>", "second/😀<x>"]);
      expect(seen).toHaveLength(3);
      for (const s of seen) expect(s.headers["x-ms-version"]).toBe("2017-11-09");
      const q = new URL(seen[1].url, "http://x").searchParams;
      expect(Object.fromEntries(q)).toEqual({ sv: "x", sig: "y", restype: "container", comp: "list", include: "metadata", maxresults: "1000", prefix: "a ", timeout: "10" });
      expect(new URL(seen[2].url, "http://x").searchParams.get("marker")).toBe("m2");
      expect(starts).toHaveLength(1);
      expect(starts[0].date).toEqual(new Date("2026-11-26T01:00:00.000Z"));
      // The Date header minus the first page's whole round trip (the 503 and its retry included).
      const bound = starts[0].serviceTime.getTime();
      expect(bound).toBeLessThanOrEqual(Date.parse("2026-11-26T01:00:00.000Z"));
      expect(bound).toBeGreaterThanOrEqual(Date.parse("2026-11-26T01:00:00.000Z") - (after - before));
    } finally {
      server.close();
    }
  });

  test("a body sent a byte at a time, splitting every multi-byte character, reads as sent", async () => {
    // A 4-byte emoji, a 3-byte CJK character and a 2-byte accent, each cut across network reads.
    const names = ["d/😀-大-é", "d/ü/𝄞"];
    const body = Buffer.from(page(names.map((n) => ONE.replace("a &amp; b/&#x1F600;&lt;x&gt;", n)).join("")), "utf8");
    await withFakeService((_req, res) => {
      res.writeHead(200, { "content-type": "application/xml" });
      let i = 0;
      const next = (): void => {
        if (i >= body.length) {
          res.end();
          return;
        }
        res.write(body.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    }, async (client) => {
      const got: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) got.push(b.name);
      expect(got).toEqual(names);
    });
  });

  test("the listing's start is never later than the moment the service read the page, however slow the answer", async () => {
    // The service reads at arrival, then takes 2.2 s to answer; its Date header (whole seconds) is stamped at the end.
    const arrivals: number[] = [];
    const server = createServer((_req, res) => {
      arrivals.push(Date.now());
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/xml", date: new Date().toUTCString() });
        res.end(page(ONE));
      }, 2200);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
      const starts: ListingStart[] = [];
      for await (const _ of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error", onStart: (s) => starts.push(s) })) void _;
      expect(starts[0].serviceTime.getTime()).toBeLessThanOrEqual(arrivals[0]);
      // And not needlessly early: within the answer's delay and the header's one-second grain.
      expect(starts[0].serviceTime.getTime()).toBeGreaterThan(arrivals[0] - 3500);
    } finally {
      server.close();
    }
  });

  test("a page whose connection breaks off mid-body is fetched again", async () => {
    let calls = 0;
    await withFakeService((_req, res) => {
      calls++;
      const body = page(ONE);
      res.writeHead(200, { "content-type": "application/xml", "content-length": String(Buffer.byteLength(body)) });
      if (calls === 1) {
        res.write(body.slice(0, 200));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end(body);
    }, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name);
      expect(names).toEqual(["a & b/😀<x>"]);
      expect(calls).toBe(2);
    });
  });

  test.each([
    // A clean end (its own Content-Length), cut where the first blob's element closes: only the missing root end shows it.
    ["right after a whole blob", "</Blob>", ONE],
    // Right after that key's end tag: the body ends with </EnumerationResults> all the same.
    ["right after a metadata key named EnumerationResults", "</EnumerationResults>", ONE.replace("<empty/>", "<EnumerationResults>v</EnumerationResults>")],
  ])("a page cut short %s gives none of its blobs before it is fetched again", async (_where, cutAfter, first) => {
    let calls = 0;
    const two = first + ONE.replace("a &amp; b", "second");
    await withFakeService((_req, res) => {
      calls++;
      const whole = page(two);
      const body = calls === 1 ? whole.slice(0, whole.indexOf(cutAfter) + cutAfter.length) : whole;
      res.writeHead(200, { "content-type": "application/xml", "content-length": String(Buffer.byteLength(body)) });
      res.end(body);
    }, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name);
      expect(names).toEqual(["a & b/😀<x>", "second/😀<x>"]);
      expect(calls).toBe(2);
    });
  });

  test("a whole page with white space or text after its root is read at once, not fetched again as cut short", async () => {
    let calls = 0;
    await withFakeService((_req, res) => {
      calls++;
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(`${page(ONE)}\r\n  trailing\n`);
    }, async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name);
      expect(names).toEqual(["a & b/😀<x>"]);
      expect(calls).toBe(1);
    });
  });

  test("a page found malformed partway fails the listing as the container's, and stays failed", async () => {
    const bad = ONE.replace("a &amp; b", "second").replace("<Content-Length>12</Content-Length>", "<Content-Length>twelve</Content-Length>");
    await withFakeService((_req, res) => {
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(page(ONE + bad));
    }, async (client) => {
      const names: string[] = [];
      const it = listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" });
      const drain = async () => { for await (const b of it) names.push(b.name); };
      await expect(drain()).rejects.toThrow(/^source container "c" could not be listed \(.*Content-Length.*\); nothing was deleted for it$/);
      expect(names).toEqual(["a & b/😀<x>"]);
    });
    // The page itself: a second read after the failure throws again, never ends as a shorter page.
    await withFakeService((_req, res) => { res.end(page(ONE + bad)); }, async (client) => {
      const p = await fetchListPage(client.container("c"), { maxResults: 10 });
      const it = p.blobs[Symbol.iterator]();
      expect(it.next().done).toBe(false);
      expect(() => it.next()).toThrow(/Content-Length/);
      expect(() => it.next()).toThrow(/Content-Length/);
      expect(() => p.end()).toThrow(/Content-Length/);
    });
  });

  test("a service that gives back the marker it was asked with is an error, not a listing without end", async () => {
    let calls = 0;
    await withFakeService((req, res) => {
      calls++;
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(page(calls === 1 ? ONE : "", "<NextMarker>m1</NextMarker>"));
    }, async (client) => {
      const drain = async () => { for await (const _ of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) { /* drain */ } };
      await expect(drain()).rejects.toThrow(/source container "c" could not be listed \(the service gave back the marker it was asked with.*\); nothing was deleted/);
      expect(calls).toBe(2);
    });
  });

  // A service whose empty pages lead in a circle (A → empty → B → empty → A) would be listed forever: no name repeats,
  // so the march's order check never sees it. The fake gives up after 40 requests, so the old code ends, not hangs.
  test("empty pages that lead back to a marker already asked for are an error, not a listing without end", async () => {
    const asked: (string | null)[] = [];
    await withFakeService(pagesByMarker(asked, (marker) => {
      if (asked.length > 40) return page("");
      return marker === null ? page(ONE, "<NextMarker>A</NextMarker>") : page("", `<NextMarker>${marker === "A" ? "B" : "A"}</NextMarker>`);
    }), async (client) => {
      const names: string[] = [];
      const drain = async () => { for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name); };
      await expect(drain()).rejects.toThrow(/^source container "c" could not be listed \(the service's empty pages lead back to a marker already asked for.*\); nothing was deleted for it$/);
      expect(names).toEqual(["a & b/😀<x>"]);
      // The first page, A and B; the page asked ahead for A again is cancelled, never walked.
      expect(asked.slice(0, 3)).toEqual([null, "A", "B"]);
      expect(asked.length).toBeLessThanOrEqual(4);
    });
  });

  test("a run of empty pages, each with a new marker, is a listing that goes on (the service may answer so)", async () => {
    const asked: (string | null)[] = [];
    await withFakeService(pagesByMarker(asked, (marker) => {
      const n = marker === null ? 0 : Number(marker.slice(1));
      // Empty pages m1..m5, then one blob and m6, then empty pages m7 and m8 to the end.
      if (n < 5) return page("", `<NextMarker>m${n + 1}</NextMarker>`);
      if (n === 5) return page(ONE, "<NextMarker>m6</NextMarker>");
      return page("", n < 8 ? `<NextMarker>m${n + 1}</NextMarker>` : "<NextMarker/>");
    }), async (client) => {
      const names: string[] = [];
      for await (const b of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) names.push(b.name);
      expect(names).toEqual(["a & b/😀<x>"]);
      expect(asked).toEqual([null, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
    });
  });

  test("a truncated listing is an error, never a shorter listing", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/xml" });
      res.end(page(ONE).slice(0, 300));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
      const run = async () => { for await (const _ of listBlobs(client.container("c"), "c", { side: "source", sasEnv: "X", missing: "error" })) { /* drain */ } };
      await expect(run()).rejects.toThrow(/source container "c" could not be listed \(.*cut short.*\); nothing was deleted/);
    } finally {
      server.close();
    }
  });
});

describe("against Azurite (API-version check on)", () => {
  let sites: LocalSites;
  beforeAll(async () => { sites = await startLocalSites(); }, 60000);
  afterAll(async () => { await sites?.stop(); });

  /** The SDK's own listing, mapped the way dr-sync mapped it before it parsed pages itself. */
  async function sdkListing(cc: ContainerClient): Promise<RemoteBlob[]> {
    const out: RemoteBlob[] = [];
    for await (const item of cc.listBlobsFlat({ includeMetadata: true })) {
      const p = item.properties;
      const props: Record<string, string> = {};
      const set = (k: string, v: string | undefined) => { if (v) props[k] = v; };
      set("contentType", p.contentType); set("contentEncoding", p.contentEncoding); set("contentLanguage", p.contentLanguage);
      set("contentDisposition", p.contentDisposition); set("cacheControl", p.cacheControl);
      if (p.contentMD5?.length) props.contentMD5 = Buffer.from(p.contentMD5).toString("base64");
      out.push({ name: item.name, etag: normalizeEtag(p.etag), size: p.contentLength ?? 0, lastModified: p.lastModified!.toISOString(),
        kind: p.blobType as RemoteBlob["kind"], props, metadata: item.metadata ?? {} });
    }
    return out;
  }

  test("reads exactly what the SDK's deserializer reads, across pages, for hostile names and odd metadata", async () => {
    const names = ["a", "a/b", "x&y<z>\"'", "ünï/cødé", "e\u0301", "\u00e9", "tab\tname", " sp ace. ", "../x", "%41#?", "]]>", "&amp;", "n".repeat(1024)];
    const blobs: SeedBlob[] = names.map((name, i) => ({
      name, body: i % 3 === 0 ? "" : `body ${i}`, contentType: i % 2 ? "text/plain; charset=\"utf-8\"" : undefined,
      contentDisposition: "attachment; filename=\"a&b.txt\"", cacheControl: i % 4 ? "no-cache" : undefined, contentLanguage: "de-CH",
      contentEncoding: i % 5 ? undefined : "gzip", metadata: { Foo: "bar & <baz>", empty: "", spaced: "  x  ", Unicode: "snow" },
      blocks: i % 2 === 0,
    }));
    await seed(sites.source, "hostile", blobs);
    const cc = sites.source.container("hostile");
    const ours: RemoteBlob[] = [];
    for await (const b of listBlobs(cc, "hostile", { side: "source", sasEnv: "X", missing: "error", pageSize: 4 })) ours.push(b);
    expect(ours).toHaveLength(names.length);
    expect(ours).toEqual(await sdkListing(cc));
  }, 60000);

  test("a missing source container is an error; a missing target container is reported as missing", async () => {
    const cc = sites.source.container("nothing-here");
    const drain = async (missing: "error" | "empty", onMissing?: () => void) => {
      for await (const _ of listBlobs(cc, "nothing-here", { side: "source", sasEnv: "DR_SOURCE_SAS", missing, onMissing })) { /* drain */ }
    };
    await expect(drain("error")).rejects.toThrow(/source container "nothing-here" not found; nothing was copied or deleted/);
    let missing = false;
    await drain("empty", () => { missing = true; });
    expect(missing).toBe(true);
  }, 30000);

  test("a SAS that cannot list is named in the error", async () => {
    await sites.source.container("forbidden").createIfNotExists();
    const client = new SiteClient({ blobEndpoint: sites.source.blobEndpoint, sasEnv: "DR_SOURCE_SAS", name: "source" }, sites.source.sas("r"), { apiVersion: "2017-11-09", retry });
    const run = async () => { for await (const _ of listBlobs(client.container("forbidden"), "forbidden", { side: "source", sasEnv: "DR_SOURCE_SAS", missing: "error" })) { /* drain */ } };
    await expect(run()).rejects.toThrow(/source: the SAS in DR_SOURCE_SAS .*HTTP 403.*nothing was copied or deleted/);
  }, 30000);
});
