import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { BlobServiceClient } from "@azure/storage-blob";
import { DualWriteError, FailoverRouter, MissRecord, UnsupportedDualWriteError } from "../client";
import { RunStatus } from "../runtime/src/state/status";
import { isFenceRead } from "../tools/drill/request-log";
import { allTextOf, AppSites, appSites, caught } from "./client-support";
import { Drill, seed, snapshot, startDrill } from "./support/harness";

/**
 * Dual writes against two Azurite accounts, with the built dr-sync bundle run as a process between them (as the VM
 * runs it). "orders" is synchronous; "notes" is not.
 */
describe("synchronous dual writes", () => {
  let drill: Drill;
  let app: AppSites;
  const retry = { retryOptions: { maxTries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 100 } };
  const client = (mode: "strict" | "best-effort" = "strict"): BlobServiceClient =>
    new FailoverRouter(app.options({ dualWrites: { containers: ["orders"], mode }, fenceTimeoutMs: 1000 })).serviceClient(retry);
  const runJson = async (): Promise<RunStatus> => {
    const r = await drill.run(["run", "--json"]);
    if (r.code !== 0) throw new Error(`dr-sync run exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout) as RunStatus;
  };
  const retained = async (): Promise<{ container: string; name: string; reason: string }[]> =>
    JSON.parse((await drill.run(["retention", "list", "--json"])).stdout);

  beforeAll(async () => {
    drill = await startDrill(["orders", "notes"]);
    app = await appSites(drill.sites);
    await app.fences({ source: "active", target: "passive" });
    const blobs = ["kept", "rewritten", "relabelled", "retyped", "removed"].map((n) => ({
      name: `seeded/${n}.json`, body: `{"seeded":"${n}"}`, contentType: "application/json", metadata: { origin: "seed" },
    }));
    await seed(drill.sites.source, "orders", blobs);
    await seed(drill.sites.source, "notes", blobs.slice(0, 1));
    await runJson();
  });
  afterAll(async () => {
    await app?.close();
    await drill?.stop();
  });

  const large = Buffer.alloc(9 * 1024 * 1024 + 17, 7);
  const md5 = (b: Buffer) => createHash("md5").update(b).digest();

  test("writes to the synchronous container are at the target when the source goes away right after they return; the other container's are not", async () => {
    const service = client();
    const orders = service.getContainerClient("orders");
    const headers = { blobContentType: "application/json", blobCacheControl: "no-cache", blobContentLanguage: "de", blobContentDisposition: "inline" };
    const body = JSON.stringify({ order: 1, total: "12.50" });
    const t0 = app.logs.target.requests.length;
    await orders.getBlockBlobClient("new/order-1.json").upload(body, body.length, { blobHTTPHeaders: headers, metadata: { customer: "c-17" } });
    await orders.getBlockBlobClient("new/large.bin").uploadData(large, {
      blockSize: 4 * 1024 * 1024, maxSingleShotSize: 4 * 1024 * 1024, concurrency: 3,
      blobHTTPHeaders: { blobContentType: "application/octet-stream", blobContentMD5: md5(large) }, metadata: { kind: "blocks" },
    });
    const rewritten = '{"seeded":"rewritten","v":2}';
    await orders.getBlockBlobClient("seeded/rewritten.json").upload(rewritten, rewritten.length, { blobHTTPHeaders: { blobContentType: "application/json" }, metadata: { origin: "app" } });
    await orders.getBlockBlobClient("seeded/relabelled.json").setMetadata({ origin: "seed", checked: "yes" });
    const props = await orders.getBlockBlobClient("seeded/retyped.json").getProperties();
    await orders.getBlockBlobClient("seeded/retyped.json").setHTTPHeaders({ blobContentType: "text/plain", blobContentMD5: props.contentMD5 });
    await orders.getBlockBlobClient("seeded/removed.json").delete();
    const note = "written after the last cycle";
    await service.getContainerClient("notes").getBlockBlobClient("late.txt").upload(note, note.length);
    // The last call returned: the source is gone, for the application and for everyone else.
    await app.logs.source.close();
    try {
      const [src, dst] = await Promise.all([snapshot(drill.sites.source.container("orders")), snapshot(drill.sites.target.container("orders"))]);
      expect(dst).toEqual(src);
      expect(Object.keys(dst).sort()).toEqual(["new/large.bin", "new/order-1.json", "seeded/kept.json", "seeded/relabelled.json", "seeded/retyped.json", "seeded/rewritten.json"]);
      expect(dst["new/order-1.json"]).toEqual(expect.objectContaining({ contentType: "application/json", cacheControl: "no-cache", contentLanguage: "de", contentDisposition: "inline", metadata: { customer: "c-17" } }));
      expect(dst["seeded/retyped.json"].contentType).toBe("text/plain");
      expect(await drill.sites.target.container("notes").getBlobClient("late.txt").exists()).toBe(false);
      // The mirrors went straight to the target (no relay through the source), and only for "orders".
      const toTarget = app.logs.target.since(t0).filter((r) => !isFenceRead(r));
      expect(toTarget.some((r) => r.path.includes("/orders/new/large.bin"))).toBe(true);
      expect(toTarget.some((r) => r.path.includes("/notes/"))).toBe(false);
    } finally {
      await app.logs.source.open();
    }
  });

  test("the next dr-sync run adopts them: no bytes pushed, nothing of them kept from the destination", async () => {
    const run = await runJson();
    const orders = run.containers.find((c) => c.container === "orders")!;
    const notes = run.containers.find((c) => c.container === "notes")!;
    const copies = await retained();
    // Logged so a failure shows the whole picture.
    console.warn(`orders after dual writes: pull ${JSON.stringify(orders.pull)}, push ${JSON.stringify(orders.push)}, retained ${JSON.stringify(copies)}`);
    expect(notes.push).toEqual(expect.objectContaining({ copied: 1 }));
    expect(orders.push).toEqual(expect.objectContaining({ copied: 0, bytes: 0, retainedFromDestination: 0, deleted: 0, failed: 0 }));
    expect(orders.push!.adopted).toBe(5);
    expect(copies.filter((c) => c.container === "orders" && c.reason.startsWith("destination copy"))).toEqual([]);
    await expect(drill.run(["verify", "--json"])).resolves.toEqual(expect.objectContaining({ code: 0 }));
  });

  test("a dual-written block blob without a Content-MD5 is adopted too: no bytes pushed, nothing kept from the destination", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 3);
    await client().getContainerClient("orders").getBlockBlobClient("new/no-md5.bin").uploadData(body, { blockSize: 4 * 1024 * 1024, maxSingleShotSize: 1 });
    const run = await runJson();
    const orders = run.containers.find((c) => c.container === "orders")!;
    const copies = await retained();
    expect(orders.push).toEqual(expect.objectContaining({ copied: 0, bytes: 0, retainedFromDestination: 0 }));
    expect(copies.filter((c) => c.name === "new/no-md5.bin")).toEqual([]);
  });

  test("strict: a write the target cannot take fails the call, names the site, and leaks no SAS", async () => {
    await app.logs.target.close();
    try {
      const service = client("strict");
      const err = await caught(service.getContainerClient("orders").getBlockBlobClient("strict/o.json").upload("{}", 2));
      expect(err).toBeInstanceOf(DualWriteError);
      expect((err as DualWriteError).site).toBe("hub-west");
      expect((err as Error).message).toMatch(/put blob orders\/strict\/o\.json: written at hub-east but not at hub-west/);
      const text = allTextOf(err);
      for (const s of app.secrets) expect(text).not.toContain(s);
      expect(text).not.toMatch(/sig=/);
      // The other container does not depend on the target.
      await expect(service.getContainerClient("notes").getBlockBlobClient("still.txt").upload("ok", 2)).resolves.toBeDefined();
    } finally {
      await app.logs.target.open();
    }
  });

  test("best effort: the call succeeds and the miss is journaled at the active site", async () => {
    await app.logs.target.close();
    const at = Date.now();
    try {
      await client("best-effort").getContainerClient("orders").getBlockBlobClient("best/o.json").upload("{}", 2, { metadata: { a: "1" } });
    } finally {
      await app.logs.target.open();
    }
    const journal = drill.sites.source.container("dr-sync-status");
    const names: string[] = [];
    for await (const b of journal.listBlobsFlat({ prefix: "dual-write-misses/" })) names.push(b.name);
    expect(names).toEqual([`dual-write-misses/${new Date(at).toISOString().slice(0, 13)}.jsonl`]);
    const lines = (await journal.getBlobClient(names[0]).downloadToBuffer()).toString().trim().split("\n").map((l) => JSON.parse(l) as MissRecord);
    expect(lines).toEqual([expect.objectContaining({ v: 1, written: "hub-east", missed: "hub-west", container: "orders", blob: "best/o.json", operation: "put blob" })]);
    expect(lines[0].failure.code ?? String(lines[0].failure.statusCode)).toMatch(/ECONNRESET|ECONNREFUSED|REQUEST_SEND_ERROR|socket|5\d\d/i);
    expect(JSON.stringify(lines)).not.toMatch(/sig=/);
    // Every request of the client (the application's, mirrors, fence reads, journal appends) pinned the API version.
    const all = [...app.logs.source.requests, ...app.logs.target.requests];
    expect(all.filter((r) => r.path.includes("/dual-write-misses/")).length).toBeGreaterThan(0);
    expect(new Set(all.map((r) => r.version))).toEqual(new Set(["2017-11-09"]));
  });

  test("the next dr-sync run replicates the journaled miss before its ordinary cycle, says so, and reads each journal line once", async () => {
    const first = await drill.run(["run", "--json"]);
    expect(first.code).toBe(0);
    const events = first.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; container?: string; hop?: string });
    const repairedAt = events.findIndex((e) => e.event === "misses.repaired" && e.container === "orders");
    const pulledAt = events.findIndex((e) => e.event === "hop.end" && e.container === "orders" && e.hop === "pull");
    expect(repairedAt).toBeGreaterThanOrEqual(0);
    expect(repairedAt).toBeLessThan(pulledAt);
    const orders = (JSON.parse(first.stdout) as RunStatus).containers.find((c) => c.container === "orders")!;
    expect(orders.dualWriteMisses).toEqual({ journaled: 1, repaired: 1, failed: [] });
    expect((await snapshot(drill.sites.target.container("orders")))["best/o.json"]).toEqual(expect.objectContaining({ metadata: { a: "1" } }));
    expect((await drill.run(["status"])).stdout).toMatch(/dual-write misses: 1 journaled since the last run, 1 replicated first/);
    const again = JSON.parse((await drill.run(["run", "--json"])).stdout) as RunStatus;
    expect(again.containers.find((c) => c.container === "orders")!.dualWriteMisses).toBeUndefined();
  });

  test("a conditional write is decided by the active site, then written unconditionally at the other", async () => {
    const orders = client().getContainerClient("orders");
    const put = await orders.getBlockBlobClient("cond/o.json").upload("v1", 2);
    await orders.getBlockBlobClient("cond/o.json").upload("v2", 2, { conditions: { ifMatch: put.etag } });
    await expect(caught(orders.getBlockBlobClient("cond/o.json").upload("v3", 2, { conditions: { ifMatch: put.etag } }))).resolves.toEqual(expect.objectContaining({ statusCode: 412 }));
    const [src, dst] = await Promise.all([drill.sites.source.container("orders"), drill.sites.target.container("orders")].map((c) => c.getBlobClient("cond/o.json").downloadToBuffer()));
    expect([src.toString(), dst.toString()]).toEqual(["v2", "v2"]);
  });

  test("a one-shot stream body reaches both sites whole, even when the second write waits for the first (a condition)", async () => {
    const body = Buffer.from("streamed ".repeat(5000));
    await client().getContainerClient("orders").getBlockBlobClient("stream/o.txt")
      .upload(Readable.from([body.subarray(0, 100), body.subarray(100)]), body.length, { conditions: { ifNoneMatch: "*" } });
    const [src, dst] = await Promise.all([drill.sites.source.container("orders"), drill.sites.target.container("orders")].map((c) => c.getBlobClient("stream/o.txt").downloadToBuffer()));
    expect([src.equals(body), dst.equals(body)]).toEqual([true, true]);
  });

  test("Copy Blob into a synchronous container is refused before anything is sent (strict)", async () => {
    const [s0, t0] = [app.logs.source.requests.length, app.logs.target.requests.length];
    const orders = client().getContainerClient("orders");
    const err = await caught(orders.getBlockBlobClient("copy/o.json").syncCopyFromURL(`${drill.sites.source.blobEndpoint}orders/seeded/kept.json`));
    expect(err).toBeInstanceOf(UnsupportedDualWriteError);
    expect([...app.logs.source.since(s0), ...app.logs.target.since(t0)].every(isFenceRead)).toBe(true);
  });
});
