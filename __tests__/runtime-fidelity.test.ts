import { createServer, IncomingHttpHeaders } from "node:http";
import { AddressInfo } from "node:net";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SiteClient } from "../runtime/src/storage/site-client";
import { Drill, expectSitesEqual, seed, snapshot, startDrill, walk } from "./support/harness";

const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const byName = (s: { containers: { container: string }[] }, c: string) => s.containers.find((x) => x.container === c) as Record<string, any>;

describe("API version", () => {
  test("every request carries x-ms-version from the config, through the pipeline policy", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { "x-ms-error-code": "ContainerNotFound" }).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const retry = { maxTries: 1, retryDelayMs: 1, maxRetryDelayMs: 1, tryTimeoutSeconds: 5 };
    const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
    await client.container("c").getProperties().catch(() => undefined);
    await client.blob("c", "a/b").download().catch(() => undefined);
    server.close();
    expect(seen).toHaveLength(2);
    for (const h of seen) expect(h["x-ms-version"]).toBe("2017-11-09");
  });

  test("Azurite, with its version check on, accepts 2017-11-09 and refuses a version it does not know", async () => {
    const drill = await startDrill(["images"]);
    try {
      await seed(drill.sites.source, "images", [{ name: "a.txt", body: "a" }]);
      expect((await drill.run(["run"])).code).toBe(0);
      drill.writeConfig({ containers: ["images"], apiVersion: "2099-01-01" });
      const r = await drill.run(["run", "--json"]);
      expect(r.code).not.toBe(0);
      expect(JSON.stringify(json(r).containers)).toMatch(/HTTP 400/);
    } finally {
      await drill.stop();
    }
  });
});

describe("replication", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["images", "invoices"], { blockSizeMiB: 1, singleShotMaxMiB: 1 });
  });
  afterAll(() => drill.stop());

  test("the target ends with the source's bytes, properties and metadata", async () => {
    await seed(drill.sites.source, "images", [
      { name: "logo.png", body: Buffer.alloc(3000, 1), contentType: "image/png", cacheControl: "public, max-age=3600", metadata: { Owner: "web", team: "a" } },
      { name: "css/site.css.gz", body: "gz", contentType: "text/css", contentEncoding: "gzip", contentLanguage: "de-DE", contentDisposition: "inline; filename=site.css" },
      { name: "empty", body: "" },
      { name: "big/video.bin", body: Buffer.alloc(5 * 1024 * 1024 + 17, 3), contentType: "video/mp4", metadata: { codec: "h264" }, blocks: true },
    ]);
    await seed(drill.sites.source, "invoices", [{ name: "2026/11/inv-1.pdf", body: "%PDF", contentType: "application/pdf", metadata: { customer: "42" } }]);
    const r = await drill.run(["run", "--json"]);
    expect(r.code).toBe(0);
    expect(json(r).outcome).toBe("ok");
    await expectSitesEqual(drill);
    const dst = await snapshot(drill.sites.target.container("images"));
    expect(dst["logo.png"]).toMatchObject({ contentType: "image/png", cacheControl: "public, max-age=3600", metadata: { Owner: "web", team: "a" } });
    expect(dst["logo.png"].contentMD5).toBeDefined();
    expect(dst["css/site.css.gz"]).toMatchObject({ contentEncoding: "gzip", contentLanguage: "de-DE", contentDisposition: "inline; filename=site.css" });
    expect((await drill.run(["verify"])).code).toBe(0);
  });

  test("large blobs move in ranges and blocks, committed in one step", async () => {
    const blocks = await drill.sites.target.container("images").getBlockBlobClient("big/video.bin").getBlockList("committed");
    expect(blocks.committedBlocks?.length).toBe(6);
  });

  test("a run with nothing changed transfers nothing", async () => {
    const s = json(await drill.run(["run", "--json"]));
    for (const c of s.containers) {
      expect(c.pull).toMatchObject({ copied: 0, deleted: 0, bytes: 0 });
      expect(c.push).toMatchObject({ copied: 0, deleted: 0, bytes: 0 });
    }
  });

  test("a blob rewritten with the same size in the same second is picked up (ETag, not timestamps)", async () => {
    const c = drill.sites.source.container("invoices").getBlockBlobClient("2026/11/inv-1.pdf");
    await c.upload("%PDX", 4, { blobHTTPHeaders: { blobContentType: "application/pdf" }, metadata: { customer: "42" } });
    await c.upload("%PDZ", 4, { blobHTTPHeaders: { blobContentType: "application/pdf" }, metadata: { customer: "42" } });
    const s = json(await drill.run(["run", "--json"]));
    expect(s.containers.find((x: { container: string }) => x.container === "invoices").push.copied).toBe(1);
    await expectSitesEqual(drill);
  });

  test("metadata-only and property-only changes are picked up", async () => {
    const c = drill.sites.source.container("images").getBlockBlobClient("logo.png");
    await c.setMetadata({ Owner: "ops" });
    await drill.sites.source.container("images").getBlockBlobClient("empty").setHTTPHeaders({ blobContentType: "text/x-empty" });
    expect((await drill.run(["run"])).code).toBe(0);
    await expectSitesEqual(drill);
  });

  test("a target blob changed or deleted behind our back is found by verify and repaired by the next run", async () => {
    const t = drill.sites.target.container("images");
    await t.getBlockBlobClient("logo.png").upload("tampered", 8);
    await t.getBlockBlobClient("css/site.css.gz").delete();
    await drill.sites.target.container("invoices").getBlockBlobClient("stray.txt").upload("x", 1);
    const v = await drill.run(["verify", "--json"]);
    expect(v.code).toBe(1);
    const problems = json(v).differences.map((d: { name: string; problem: string }) => `${d.name}: ${d.problem}`);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^logo\.png: size 3000 at source, 8 at target/),
      "css/site.css.gz: missing at target",
      "stray.txt: only at target",
    ]));
    const r = await drill.run(["run", "--json"]);
    expect(r.code).toBe(0);
    expect((await drill.run(["verify"])).code).toBe(0);
    await expectSitesEqual(drill);
    // What we never wrote was kept before it was replaced or deleted.
    const kept = json(await drill.run(["retention", "list", "--json"])).map((k: { name: string; reason: string }) => `${k.name}: ${k.reason}`);
    expect(kept).toEqual(expect.arrayContaining(["logo.png: destination copy overwritten", "stray.txt: destination copy deleted"]));
  });

  test("verify --deep finds bytes that differ where properties and sizes match", async () => {
    // Same size, same properties and metadata, different bytes.
    const src = drill.sites.source.container("images").getBlockBlobClient("big/video.bin");
    const props = await src.getProperties();
    const forged = Buffer.alloc(5 * 1024 * 1024 + 17, 4);
    await drill.sites.target.container("images").getBlockBlobClient("big/video.bin").uploadData(forged, {
      blockSize: 4 * 1024 * 1024, maxSingleShotSize: 1, blobHTTPHeaders: { blobContentType: props.contentType }, metadata: props.metadata,
    });
    // Listings cannot tell these apart by properties (no Content-MD5 on either side); the ETag dr-sync recorded
    // for its own write can, and the bytes can.
    const quick = await drill.run(["verify", "--json"]);
    expect(quick.code).toBe(1);
    expect(json(quick).differences).toEqual([expect.objectContaining({ name: "big/video.bin", problem: expect.stringMatching(/changed at the target since dr-sync wrote it/) })]);
    const deep = await drill.run(["verify", "--deep", "--json"]);
    expect(deep.code).toBe(1);
    expect(JSON.stringify(json(deep).differences)).toMatch(/big\/video\.bin/);
    // The run repairs it anyway: the target's ETag no longer matches the one we recorded.
    expect((await drill.run(["run"])).code).toBe(0);
    expect((await drill.run(["verify", "--deep"])).code).toBe(0);
  });
});

describe("page and append blobs", () => {
  test("keep their type, written pages, properties and metadata, and appear at the target in one step", async () => {
    const drill = await startDrill(["vhds"], { blockSizeMiB: 1 });
    try {
      const cc = drill.sites.source.container("vhds");
      await cc.createIfNotExists();
      const disk = cc.getPageBlobClient("disk0.vhd");
      await disk.create(8 * 1048576, { blobHTTPHeaders: { blobContentType: "application/octet-stream" }, metadata: { vm: "web01" } });
      await disk.uploadPages(Buffer.alloc(1048576, 5), 0, 1048576);
      await disk.uploadPages(Buffer.alloc(512, 6), 6 * 1048576, 512);
      const log = cc.getAppendBlobClient("logs/app.log");
      await log.create({ blobHTTPHeaders: { blobContentType: "text/plain" }, metadata: { rotated: "no" } });
      await log.appendBlock("line 1\n", 7);
      await log.appendBlock("line 2\n", 7);
      const r = await drill.run(["run", "--json"]);
      expect(r.code).toBe(0);
      await expectSitesEqual(drill);
      const t = drill.sites.target.container("vhds");
      expect((await t.getBlobClient("disk0.vhd").getProperties()).blobType).toBe("PageBlob");
      expect((await t.getBlobClient("logs/app.log").getProperties()).blobType).toBe("AppendBlob");
      const ranges = await t.getPageBlobClient("disk0.vhd").getPageRanges(0, 8 * 1048576);
      expect(ranges.pageRange?.map((p) => [p.offset, Math.ceil((p.count ?? 0) / 512) * 512])).toEqual([[0, 1048576], [6 * 1048576, 512]]);
      // No scratch blob is left, and only the written pages were fetched.
      expect(Object.keys(await snapshot(t)).sort()).toEqual(["disk0.vhd", "logs/app.log"]);
      expect(byName(JSON.parse(r.stdout), "vhds").pull.bytes).toBe(1048576 + 512 + 14);
      await log.appendBlock("line 3\n", 7);
      expect((await drill.run(["run"])).code).toBe(0);
      await expectSitesEqual(drill);
      expect((await drill.run(["verify"])).code).toBe(0);
    } finally {
      await drill.stop();
    }
  });
});

describe("blob names", () => {
  const names = [
    "a", "a/b", "a/b/c", "x/../y", "../up", "./here", "dots/./x", "trailing.", "trailing ", "sp ace", "100%", "50%25", "h#sh", "q?uery&x=1",
    "ünïcødé/日本語/файл", "emoji-😀", "tab\there", "semi;colon", "plus+sign", "quote'\"", "a//double", "CON", "nul", "aux.txt",
    "Case", "case", "caf\u00e9", "cafe\u0301", "x".repeat(1024), `long/${"y".repeat(1000)}`,
  ];

  test("every legal name round-trips, and nothing is written outside stagingDir", async () => {
    const drill = await startDrill(["names"]);
    try {
      await seed(drill.sites.source, "names", names.map((n, i) => ({ name: n, body: i % 3 === 0 ? "" : `body of ${n}`, metadata: { i: String(i) } })));
      const listed = Object.keys(await snapshot(drill.sites.source.container("names")));
      const r = await drill.run(["run", "--json"]);
      expect(r.code).toBe(0);
      await expectSitesEqual(drill);
      expect(Object.keys(await snapshot(drill.sites.target.container("names"))).sort()).toEqual(listed.sort());
      // Only staging, state and the config exist in the drill folder: no name escaped.
      expect(readdirSync(drill.dir).sort()).toEqual(["dr-sync.json", "staging", "state"]);
      for (const f of walk(join(drill.dir, "staging"))) expect(f).toMatch(/\/(objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.[0-9a-f]{16}\.bin|index\.db(-wal|-shm)?|pull\.json)$/);
    } finally {
      await drill.stop();
    }
  });
});

