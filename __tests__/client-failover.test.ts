import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import {
  chooseSite, ClientConfigError, ClientEvent, FailoverRouter, looksLikeSiteOutage, needsCheck, NoActiveSiteError,
  ReadOnlyClientError, SplitBrainError,
} from "../client";
import { ActiveSiteResolver } from "../client/active-site";
import { FenceReading } from "../client/choose-site";
import { classify } from "../client/operation";
import { resolveOptions } from "../client/options";
import { redact } from "../client/redact";
import { locate, urlAt } from "../client/site-url";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";
import { startFaultProxy } from "../tools/fault-proxy/fault-proxy";
import { isFenceRead } from "../tools/drill/request-log";
import { allTextOf, AppSites, appSites, caught, sleep } from "./client-support";

const A: FenceReading = { state: "active" };
const P: FenceReading = { state: "passive" };
const N: FenceReading = { state: "none" };
const U: FenceReading = { state: "unreadable", reason: "ECONNREFUSED" };

describe("which site is active (pure)", () => {
  it.each<[string, [FenceReading, FenceReading], 0 | 1 | undefined, 0 | 1 | "split-brain" | "no-active-site"]>([
    ["active / passive", [A, P], undefined, 0],
    ["passive / active", [P, A], undefined, 1],
    ["active / unreadable: an unreadable fence never beats an active one", [A, U], 1, 0],
    ["unreadable / active, even when the unreadable one was active before", [U, A], 0, 1],
    ["active / missing", [A, N], undefined, 0],
    ["both active: split brain, never a guess", [A, A], 0, "split-brain"],
    ["both passive", [P, P], 0, "no-active-site"],
    ["both missing", [N, N], undefined, "no-active-site"],
    ["unreadable / passive, nothing known before", [U, P], undefined, "no-active-site"],
    ["unreadable / passive, the unreadable one was active: it stays (down, no failover declared)", [U, P], 0, 0],
    ["unreadable / passive, the passive one was active: not kept", [U, P], 1, "no-active-site"],
    ["both unreadable, site 1 was active", [U, U], 1, 1],
  ])("%s", (_, readings, previous, expected) => {
    const c = chooseSite(readings, previous);
    if (typeof expected === "number") expect(c).toEqual(expect.objectContaining({ ok: true, site: expected }));
    else expect(c).toEqual(expect.objectContaining({ ok: false, problem: expected }));
  });

  const times = { recheckAfterMs: 30_000, minRecheckIntervalMs: 1_000 };
  it.each<[string, { checkedAt: number; failed: boolean; suspect: boolean } | undefined, number, boolean]>([
    ["never checked", undefined, 0, true],
    ["fresh decision", { checkedAt: 0, failed: false, suspect: false }, 29_999, false],
    ["decision as old as recheckAfterMs", { checkedAt: 0, failed: false, suspect: false }, 30_000, true],
    ["suspected outage within minRecheckIntervalMs", { checkedAt: 0, failed: false, suspect: true }, 999, false],
    ["suspected outage after minRecheckIntervalMs", { checkedAt: 0, failed: false, suspect: true }, 1_000, true],
    ["a failed decision (split brain) after minRecheckIntervalMs", { checkedAt: 0, failed: true, suspect: false }, 1_000, true],
    ["a failed decision within minRecheckIntervalMs", { checkedAt: 0, failed: true, suspect: false }, 10, false],
    ["the clock went backwards", { checkedAt: 5_000, failed: false, suspect: false }, 4_000, true],
  ])("fence check due: %s", (_, state, now, due) => {
    expect(needsCheck(state, now, times)).toBe(due);
  });

  it.each<[string, Parameters<typeof looksLikeSiteOutage>[0], boolean]>([
    ["connection refused", { code: "ECONNREFUSED" }, true],
    ["connection reset", { code: "ECONNRESET" }, true],
    ["timeout", { code: "ETIMEDOUT" }, true],
    ["timeout signal", { name: "TimeoutError" }, true],
    ["503", { statusCode: 503 }, true],
    ["500", { statusCode: 500 }, true],
    ["403 (a fenced site: SAS revoked)", { statusCode: 403 }, true],
    ["409", { statusCode: 409 }, true],
    ["404", { statusCode: 404 }, false],
    ["412", { statusCode: 412 }, false],
    ["400", { statusCode: 400 }, false],
    ["the application aborted", { name: "AbortError", code: "ABORT_ERR" }, false],
  ])("looks like a site outage: %s", (_, outcome, expected) => {
    expect(looksLikeSiteOutage(outcome)).toBe(expected);
  });
});

describe("the cached decision over time (fake clock, fake fences)", () => {
  function resolver(fences: [FenceReading, FenceReading], events: ClientEvent[] = []) {
    let now = 0;
    const reads: number[] = [];
    const r = new ActiveSiteResolver(
      { sites: ["east", "west"], fenceContainer: "dr-sync-status", recheckAfterMs: 30_000, minRecheckIntervalMs: 1_000, now: () => now, onEvent: (e) => events.push(e) },
      async (i) => { reads.push(i); return fences[i]; },
    );
    return { r, reads, fences, tick: (ms: number) => { now += ms; } };
  }

  test("a failover reaches the application at the first request after recheckAfterMs, not before", async () => {
    const events: ClientEvent[] = [];
    const t = resolver([A, P], events);
    await expect(t.r.active()).resolves.toBe(0);
    t.fences[0] = P;
    t.fences[1] = A;
    t.tick(29_999);
    await expect(t.r.active()).resolves.toBe(0);
    expect(t.reads).toEqual([0, 1]);
    t.tick(1);
    await expect(t.r.active()).resolves.toBe(1);
    expect(t.reads).toEqual([0, 1, 0, 1]);
    expect(events.filter((e) => e.kind === "active-site").map((e) => e.site)).toEqual(["east", "west"]);
  });

  test("an outage of the active site re-reads the fences after minRecheckIntervalMs, once however many requests fail", async () => {
    const t = resolver([A, P]);
    await t.r.active();
    t.fences[0] = U;
    t.fences[1] = A;
    t.r.suspect(0);
    t.tick(500);
    await expect(t.r.active()).resolves.toBe(0);
    t.tick(500);
    for (let i = 0; i < 10; i++) t.r.suspect(0);
    await expect(Promise.all([t.r.active(), t.r.active(), t.r.active()])).resolves.toEqual([1, 1, 1]);
    expect(t.reads).toEqual([0, 1, 0, 1]);
  });

  test("split brain fails every request, names both sites, and is re-checked at the short interval", async () => {
    const t = resolver([A, A]);
    const err = await caught(t.r.active());
    expect(err).toBeInstanceOf(SplitBrainError);
    expect((err as Error).message).toMatch(/east and west, say "active"/);
    t.fences[1] = P;
    t.tick(999);
    await expect(t.r.active()).rejects.toBeInstanceOf(SplitBrainError);
    t.tick(1);
    await expect(t.r.active()).resolves.toBe(0);
  });

  test("a site that is down, with no failover declared, keeps the requests; no fence says active before: an error", async () => {
    const t = resolver([U, P]);
    await expect(t.r.active()).rejects.toBeInstanceOf(NoActiveSiteError);
    const k = resolver([A, P]);
    await k.r.active();
    k.fences[0] = U;
    k.tick(30_000);
    await expect(k.r.active()).resolves.toBe(0);
  });
});

test("client/ depends only on @azure/storage-blob, @azure/core-rest-pipeline and itself (no cdktf, no lib/, no runtime/)", () => {
  const dir = join(__dirname, "..", "client");
  const imports = readdirSync(dir).filter((f) => f.endsWith(".ts"))
    .flatMap((f) => [...readFileSync(join(dir, f), "utf8").matchAll(/(?:from|require\()\s*["']([^"']+)["']/g)].map((m) => m[1]));
  expect(imports.length).toBeGreaterThan(10);
  expect([...new Set(imports.filter((i) => !i.startsWith("./")))].sort()).toEqual(["@azure/core-rest-pipeline", "@azure/storage-blob"]);
});

describe("options and URLs (pure)", () => {
  const sas = "sv=2017-11-09&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=SECRETSIGNATURE%3D";
  const sites = resolveOptions({
    sites: [{ name: "east", blobEndpoint: "https://east.blob.example.com", sas: `?${sas}` }, { name: "west", blobEndpoint: "http://127.0.0.1:9/target/", sas: "sv=2017-11-09&sig=WEST" }],
    allowInsecureHttp: true,
  }).sites;

  test("every problem at once, each naming its key, no SAS quoted", () => {
    const err = (() => {
      try {
        resolveOptions({
          sites: [{ name: "", blobEndpoint: `https://a.example.com/?${sas}`, sas: "nope" }, { name: "x", blobEndpoint: "http://10.0.0.1/", sas }],
          recheckAfterMs: 500, minRecheckIntervalMs: 1000, dualWrites: { containers: ["Bad_Name"], mode: "sometimes" as never }, apiVersion: "latest",
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ClientConfigError);
    const msg = (err as Error).message;
    for (const p of [/sites\[0\]\.name/, /sites\[0\]\.blobEndpoint must be the endpoint alone/, /sites\[0\]\.sas must be a SAS/, /sites\[1\]\.blobEndpoint must be https/,
      /minRecheckIntervalMs \(1000\) must not exceed recheckAfterMs \(500\)/, /"Bad_Name" is not a container name/, /dualWrites\.mode/, /apiVersion/]) expect(msg).toMatch(p);
    expect(allTextOf(err)).not.toMatch(/SECRETSIGNATURE|sig=/);
  });

  it.each<[string, string, 0 | 1, string, string | undefined, string]>([
    ["a blob, SAS of the connection string dropped", `https://east.blob.example.com/orders/a%20b/c.json?${sas}`, 0, "orders", "a b/c.json", ""],
    ["a block, its query kept", "https://east.blob.example.com/orders/x?comp=block&blockid=QUJD&sig=OLD", 0, "orders", "x", "comp=block&blockid=QUJD"],
    ["path-style endpoint", "http://127.0.0.1:9/target/orders?restype=container", 1, "orders", undefined, "restype=container"],
    ["the service root", "http://127.0.0.1:9/target?comp=list", 1, "", undefined, "comp=list"],
  ])("locate: %s", (_, url, site, container, blob, query) => {
    const loc = locate(url, sites)!;
    expect(loc).toEqual(expect.objectContaining({ site, container, query }));
    expect(loc.blob).toEqual(blob);
    const moved = urlAt(sites[1 - site], loc);
    expect(moved.startsWith(sites[1 - site].blobEndpoint)).toBe(true);
    expect(moved.endsWith(sites[1 - site].sas)).toBe(true);
    expect(moved).not.toContain(site === 0 ? "SECRETSIGNATURE" : "sig=WEST");
  });

  test("a URL of neither site is left alone", () => {
    expect(locate("https://other.blob.example.com/orders/a", sites)).toBeUndefined();
    expect(locate("https://east.blob.example.com.evil.example/orders/a", sites)).toBeUndefined();
  });

  it.each<[string, string, Record<string, string>, boolean, string]>([
    ["GET", "", {}, true, "read"],
    ["PUT", "", {}, true, "mirrored"],
    ["PUT", "comp=block&blockid=AA", {}, true, "mirrored"],
    ["PUT", "comp=blocklist", {}, true, "mirrored"],
    ["PUT", "comp=properties", {}, true, "mirrored"],
    ["PUT", "comp=metadata", {}, true, "mirrored"],
    ["DELETE", "", {}, true, "mirrored"],
    ["PUT", "comp=appendblock", {}, true, "mirrored"],
    ["PUT", "comp=page", {}, true, "mirrored"],
    ["PUT", "", { "x-ms-copy-source": "https://x/y" }, true, "from-url"],
    ["PUT", "comp=lease", {}, true, "active-only"],
    ["PUT", "comp=snapshot", {}, true, "active-only"],
    ["PUT", "restype=container", {}, false, "mirrored"],
    ["PUT", "restype=container&comp=acl", {}, false, "active-only"],
  ])("classify %s ?%s %j", (method, query, headers, isBlob, kind) => {
    expect(classify(method, query, (h) => headers[h], isBlob).kind).toBe(kind);
  });

  test("redact: known SAS values and any sig= value", () => {
    expect(redact(`GET https://x/c/b?${sas} failed`, [sas])).toBe("GET https://x/c/b?<sas> failed");
    expect(redact("at http://h/c?sv=1&sig=abc%2F&x=1")).toBe("at http://h/c?sv=1&sig=<redacted>&x=1");
  });
});

describe("an application across failover and failback (Azurite, two sites, the drill's fences)", () => {
  let sites: LocalSites;
  let app: AppSites;
  beforeAll(async () => {
    sites = await startLocalSites({ inMemory: true });
    app = await appSites(sites);
    for (const s of [sites.source, sites.target]) await s.container("orders").createIfNotExists();
  });
  afterAll(async () => {
    await app?.close();
    await sites?.stop();
  });

  const RECHECK_MS = 600;
  const retry = { retryOptions: { maxTries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 100, tryTimeoutInMs: 5000 } };

  /** One iteration of the application: write an order, read it back. Returns the error, if any. */
  async function step(service: BlobServiceClient, i: number): Promise<unknown> {
    try {
      const blob = service.getContainerClient("orders").getBlockBlobClient(`loop/order-${i}.json`);
      const body = JSON.stringify({ order: i });
      await blob.upload(body, body.length, { blobHTTPHeaders: { blobContentType: "application/json" }, metadata: { step: String(i) } });
      const back = await blob.downloadToBuffer();
      if (back.toString() !== body) return new Error(`order ${i} read back wrong`);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  /**
   * Runs the loop for `ms`, recording for each iteration when it started and which requests each site saw during it,
   * so that "after the cache time" is judged per request, by the network's log, without timing slack.
   */
  async function loop(service: BlobServiceClient, from: number, ms: number) {
    const out: { i: number; startedAt: number; error?: unknown; source: string[]; target: string[] }[] = [];
    const end = Date.now() + ms;
    for (let i = from; Date.now() < end; i++) {
      const [s0, t0] = [app.logs.source.requests.length, app.logs.target.requests.length];
      const startedAt = Date.now();
      const error = await step(service, i);
      const names = (l: typeof app.logs.source, since: number) => l.since(since).filter((r) => !isFenceRead(r)).map((r) => `${r.method} ${r.path}`);
      out.push({ i, startedAt, error, source: names(app.logs.source, s0), target: names(app.logs.target, t0) });
      await sleep(20);
    }
    return out;
  }

  test("one router, no restart, no config edit: requests follow the fences within the cache time", async () => {
    const events: ClientEvent[] = [];
    await app.fences({ source: "active", target: "passive" });
    const router = new FailoverRouter(app.options({ recheckAfterMs: RECHECK_MS, minRecheckIntervalMs: 100, fenceTimeoutMs: 1000, onEvent: (e) => events.push(e) }));
    const service = router.serviceClient(retry);

    // Normal operation: only the source.
    const normal = await loop(service, 0, 800);
    expect(normal.every((x) => !x.error && x.source.length > 0 && x.target.length === 0)).toBe(true);

    // Disaster: the source's front door closes; the deploy with activeSite=target writes only the target's fence.
    await app.logs.source.close();
    await app.fences({ target: "active" });
    const flip1 = Date.now();
    const outage = await loop(service, 1000, 2000);
    const afterCache1 = outage.filter((x) => x.startedAt > flip1 + RECHECK_MS);
    expect(afterCache1.length).toBeGreaterThan(3);
    expect(afterCache1.every((x) => !x.error && x.target.length > 0)).toBe(true);
    expect((await router.activeSite()).name).toBe("hub-west");

    // The source returns with its stale fence ("active"): split brain, refused loudly, nothing written anywhere.
    await app.logs.source.open();
    await sleep(RECHECK_MS + 50);
    const [s0, t0] = [app.logs.source.requests.length, app.logs.target.requests.length];
    const split = await step(service, 5000);

    expect(split).toBeInstanceOf(SplitBrainError);
    expect((split as Error).message).toMatch(/hub-east and hub-west/);
    expect([...app.logs.source.since(s0), ...app.logs.target.since(t0)].every(isFenceRead)).toBe(true);
    expect(allTextOf(split)).not.toMatch(/sig=/);

    // The full deploy (both fences, target active): back to work at the target, the source gets fence reads only.
    await app.fences({ source: "passive", target: "active" });
    await sleep(120);
    const failback = await loop(service, 2000, 1500);

    expect(failback.every((x) => !x.error && x.source.length === 0 && x.target.length > 0)).toBe(true);

    // Switch back (activeSite=source): within the cache time the application is at the source again.
    await app.fences({ source: "active", target: "passive" });
    const flip2 = Date.now();
    const back = await loop(service, 3000, 2000);
    const afterCache2 = back.filter((x) => x.startedAt > flip2 + RECHECK_MS);
    expect(afterCache2.length).toBeGreaterThan(3);
    expect(afterCache2.every((x) => !x.error && x.target.length === 0 && x.source.length > 0)).toBe(true);
    // The one iteration that straddles the switch may write at one site and read at the other: at most one fails.
    expect(back.filter((x) => x.error).length).toBeLessThanOrEqual(1);

    // Every request the client made carried x-ms-version 2017-11-09 (and Azurite's API-version check is on).
    const all = [...app.logs.source.requests, ...app.logs.target.requests];
    expect(all.length).toBeGreaterThan(50);
    expect(new Set(all.map((r) => r.version))).toEqual(new Set(["2017-11-09"]));
    // The first requests that failed at the lost source were sent on to the target once its fence said active.
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(["active-site", "split-brain", "rerouted"]));
    for (const e of events) for (const s of app.secrets) expect(e.message).not.toContain(s);
  });

  test("reads never go to the passive site unless asked; the explicit reader refuses writes before sending", async () => {
    await app.fences({ source: "active", target: "passive" });
    const body = "only-at-the-passive-site";
    await sites.target.container("orders").getBlockBlobClient("stale.txt").upload(body, body.length);
    const router = new FailoverRouter(app.options());
    await expect(router.serviceClient().getContainerClient("orders").getBlobClient("stale.txt").exists()).resolves.toBe(false);
    const reader = router.siteReader("hub-west");
    await expect(reader.getContainerClient("orders").getBlobClient("stale.txt").downloadToBuffer()).resolves.toEqual(Buffer.from(body));
    const t0 = app.logs.target.requests.length;
    await expect(reader.getContainerClient("orders").getBlockBlobClient("x").upload("x", 1)).rejects.toBeInstanceOf(ReadOnlyClientError);
    expect(app.logs.target.since(t0)).toEqual([]);
    expect(() => router.siteReader("hub-north")).toThrow(/no site named "hub-north"/);
  });

  test("an unreadable fence never wins over an active one", async () => {
    await app.fences({ source: "active" });
    await sites.target.container("dr-sync-status").getBlockBlobClient("fence.json").upload("not json", 8);
    await expect(new FailoverRouter(app.options()).activeSite()).resolves.toEqual(expect.objectContaining({ name: "hub-east" }));
    await app.fences({ source: "passive", target: "active" });
    await app.logs.source.close();
    try {
      await expect(new FailoverRouter(app.options({ fenceTimeoutMs: 1000 })).activeSite()).resolves.toEqual(expect.objectContaining({ name: "hub-west" }));
    } finally {
      await app.logs.source.open();
    }
  });

  test("errors of the SDK and the network that reach the application never show a SAS", async () => {
    await app.fences({ source: "active", target: "passive" });
    const service = new FailoverRouter(app.options()).serviceClient({ retryOptions: { maxTries: 1 } });
    const missing = await caught(service.getContainerClient("orders").getBlobClient("absent").downloadToBuffer());
    expect(missing).toEqual(expect.objectContaining({ statusCode: 404 }));
    await app.logs.source.close();
    try {
      const down = await caught(service.getContainerClient("orders").getBlockBlobClient("x").upload("x", 1));
      for (const err of [missing, down]) {
        const text = allTextOf(err);
        for (const s of app.secrets) expect(text).not.toContain(s);
        expect(text).not.toMatch(/sig=(?!<redacted>)/);
      }
    } finally {
      await app.logs.source.open();
    }
  });

  it.each([[503], [403]])("a %i from the active site re-reads the fences at once: the client stays while they say so, and moves within the call when they do not", async (status) => {
    await app.fences({ source: "active", target: "passive" });
    // The repo's fault proxy in front of the source's relay answers every write to "orders" with the status.
    const proxy = await startFaultProxy({ upstreamPort: () => app.logs.source.port, rules: [{ fault: "status", status, method: "PUT", path: /\/orders\//, retryAfterSeconds: 0 }] });
    try {
      const base = app.options({ recheckAfterMs: 60_000, minRecheckIntervalMs: 0 });
      const router = new FailoverRouter({ ...base, sites: [{ ...base.sites[0], blobEndpoint: `${proxy.url}/${sites.source.account}/` }, base.sites[1]] });
      const service = router.serviceClient({ retryOptions: { maxTries: 1 } });
      const blob = service.getContainerClient("orders").getBlockBlobClient("refused.json");
      await router.activeSite();
      const [checks, t0] = [router.fenceChecks, app.logs.target.requests.length];
      await expect(caught(blob.upload("{}", 2))).resolves.toEqual(expect.objectContaining({ statusCode: status }));
      expect(router.fenceChecks).toBe(checks + 1);
      expect(app.logs.target.since(t0, true)).toEqual([]);
      // The deploy flips the fences; well inside the 60 s cache time, the next refused write goes to the target.
      await app.fences({ source: "passive", target: "active" });
      await expect(blob.upload("{}", 2)).resolves.toBeDefined();
      expect(app.logs.target.since(t0, true).map((r) => `${r.method} ${r.path}`)).toEqual([`PUT /${sites.target.account}/orders/refused.json`]);
      expect((await router.activeSite()).name).toBe("hub-west");
    } finally {
      await proxy.stop();
    }
  });

  test("both fences passive, or none: no site is chosen, and the error says what each fence said", async () => {
    await app.fences({ source: "passive", target: "passive" });
    const err = await caught(new FailoverRouter(app.options()).serviceClient().getContainerClient("orders").getBlobClient("a").exists());
    expect(err).toBeInstanceOf(NoActiveSiteError);
    expect((err as Error).message).toMatch(/hub-east says passive, hub-west says passive/);
    expect(allTextOf(err)).not.toMatch(/sig=/);
  });
});
