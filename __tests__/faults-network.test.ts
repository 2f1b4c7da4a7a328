import { randomBytes } from "node:crypto";
import { FaultProxy, FaultRule, startFaultProxy } from "../tools/fault-proxy/fault-proxy";
import { Drill, expectSitesEqual, RunResult, seed, startDrill, throughProxy } from "./support/harness";
import { eventsOf, Figures, waitFor } from "./support/faults";

const MiB = 1024 * 1024;

/**
 * Storage restarts and network faults between the runtime and both sites: a fault proxy on loopback injects
 * 500/503 with Retry-After, connection resets, stalls, truncated and damaged bodies. Each run either retries through
 * or fails the affected blobs and says so, deletes nothing after a failure, and the next clean run converges.
 */
describe("network faults and storage restarts", () => {
  let drill: Drill;
  let proxy: FaultProxy;
  const figures = new Figures("faults-network");
  let round = 0;

  beforeAll(async () => {
    drill = await startDrill(["net"]);
    proxy = await startFaultProxy({ upstreamPort: () => drill.sites.port, seed: 7 });
    drill.writeConfig({
      ...throughProxy(proxy.url),
      transferConcurrency: 4, blockConcurrency: 2, blockSizeMiB: 1, singleShotMaxMiB: 1,
      retry: { maxTries: 4, retryDelayMs: 50, maxRetryDelayMs: 400, tryTimeoutSeconds: 2 },
    });
    await seed(drill.sites.source, "net", [
      ...Array.from({ length: 40 }, (_, i) => ({ name: `small/${i}.txt`, body: randomBytes(200 + i), contentType: "text/plain" })),
      { name: "big/ranged.bin", body: randomBytes(3 * MiB + 99), blocks: true },
    ]);
    const first = await drill.run(["run"]);
    expect(first.code).toBe(0);
  });
  afterAll(async () => {
    figures.add("faultsInjected", Object.values(proxy.injected).reduce((a, b) => a + b, 0));
    for (const [k, n] of Object.entries(proxy.injected)) figures.add(`injected:${k}`, n);
    figures.write();
    await proxy?.stop();
    await drill?.stop();
  });

  /** New work for the next run: a third of the small blobs, the large blob, and one deletion (to see it held back). */
  async function changeSource(): Promise<void> {
    round++;
    await seed(drill.sites.source, "net", [
      ...Array.from({ length: 14 }, (_, i) => ({ name: `small/${i * 3}.txt`, body: `round ${round} ${i} ${randomBytes(64).toString("hex")}`, contentType: "text/plain" })),
      { name: `small/new-${round}.txt`, body: `new in round ${round}` },
      { name: "big/ranged.bin", body: randomBytes(3 * MiB + round), blocks: true },
    ]);
    await drill.sites.source.container("net").deleteBlob(`small/new-${round - 1}.txt`).catch(() => undefined);
  }

  /**
   * Where retries must carry the run: the faulted run itself ends 0, the proxy really faulted it (more requests than
   * faults, so every faulted request was sent again), and the target equals the source.
   */
  async function expectRetriedThrough(res: RunResult, faultsBefore: number): Promise<void> {
    figures.add("scenarios");
    const injected = Object.values(proxy.injected).reduce((a, b) => a + b, 0) - faultsBefore;
    expect(injected).toBeGreaterThan(0);
    expect({ code: res.code, out: res.code === 0 ? "" : res.stdout.slice(-2000) }).toEqual({ code: 0, out: "" });
    await expectSitesEqual(drill);
    figures.add("runsThatRetriedThrough");
    figures.add("blobsChecked", (await names()).length);
  }

  /** A faulted run must end 0, or 1 naming what failed and with every deletion held back; then a clean run converges. */
  async function expectRetriedOrReported(res: RunResult, targetBefore: string[]): Promise<void> {
    figures.add("scenarios");
    const events = eventsOf(res.stderr);
    if (res.code !== 0) {
      expect(res.code).toBe(1);
      const failures = events.filter((e) => e.event === "blob.failed" || e.event === "container.failed");
      expect(failures.length).toBeGreaterThan(0);
      expect(res.stdout).toMatch(/failed/);
      // Nothing deleted at the target by a run that failed.
      const after = await names();
      expect(targetBefore.filter((n) => !after.includes(n))).toEqual([]);
      figures.add("runsThatReportedFailures");
    } else figures.add("runsThatRetriedThrough");
    proxy.setRules([]);
    const clean = await drill.run(["run"]);
    expect({ code: clean.code, stderr: clean.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
    await expectSitesEqual(drill);
    figures.add("blobsChecked", (await names()).length);
  }

  const injectedSoFar = () => Object.values(proxy.injected).reduce((a, b) => a + b, 0);

  const names = async () => {
    const out: string[] = [];
    for await (const b of drill.sites.target.container("net").listBlobsFlat()) out.push(b.name);
    return out;
  };

  async function faultedRun(rules: FaultRule[]): Promise<RunResult> {
    await changeSource();
    proxy.setRules(rules);
    const res = await drill.run(["run"], { timeoutMs: 25000 }); // Shorter than any stall: a run that waits one out fails.
    proxy.setRules([]);
    return res;
  }

  test("500 and 503 with Retry-After on a third of the requests: the run retries through", async () => {
    const faults = injectedSoFar();
    const res = await faultedRun([
      { fault: "status", status: 503, retryAfterSeconds: 1, probability: 0.25 },
      { fault: "status", status: 500, retryAfterSeconds: 1, probability: 0.1 },
    ]);
    expect(proxy.injected.status).toBeGreaterThan(5);
    await expectRetriedThrough(res, faults);
  });

  test("every request to the source refused with 503: the container fails, says so, nothing deleted", async () => {
    const before = await names();
    const res = await faultedRun([{ fault: "status", status: 503, path: /^\/source\// }]);
    expect(res.code).toBe(1);
    const failed = eventsOf(res.stderr).find((e) => e.event === "container.failed");
    expect(failed?.msg).toMatch(/^source .*container "net" could not be listed \(HTTP 503 ServerBusy.*nothing was deleted/);
    await expectRetriedOrReported(res, before);
  });

  test("connection resets on a fifth of the requests", async () => {
    const faults = injectedSoFar();
    const res = await faultedRun([{ fault: "reset", probability: 0.2 }]);
    expect(proxy.injected.reset).toBeGreaterThan(3);
    await expectRetriedThrough(res, faults);
  });

  test("truncated download bodies (ranged and whole) are caught and fetched again", async () => {
    const faults = injectedSoFar();
    const res = await faultedRun([{ fault: "truncate", method: "GET", ranged: true, times: 4 }, { fault: "truncate", method: "GET", path: /small/, times: 4 }]);
    expect(proxy.injected.truncate).toBeGreaterThan(0);
    await expectRetriedThrough(res, faults);
  });

  test("download bodies damaged on the way (same length) are caught by the range's MD5 or the whole blob's and fetched again", async () => {
    const faults = injectedSoFar();
    // A large blob with a stored Content-MD5 (one Put Blob) is checked whole and by range; the one without (blocks)
    // by range only: a range other than the first, whose damage only its own MD5 shows.
    await seed(drill.sites.source, "net", [{ name: "big/with-md5.bin", body: randomBytes(3 * MiB + 5) }]);
    const res = await faultedRun([
      { fault: "corrupt-response", method: "GET", ranged: true, rangeStart: 2 * MiB, path: /with-md5\.bin$/, times: 2 },
      { fault: "corrupt-response", method: "GET", ranged: true, rangeStart: 2 * MiB, path: /ranged\.bin$/, times: 2 },
    ]);
    expect(proxy.faulted.slice(-4).sort()).toEqual([
      "corrupt-response GET /source/net/big%2Franged.bin", "corrupt-response GET /source/net/big%2Franged.bin",
      "corrupt-response GET /source/net/big%2Fwith-md5.bin", "corrupt-response GET /source/net/big%2Fwith-md5.bin",
    ]);
    // A damaged read is not a stale stored MD5: nothing is reported as one, and the bytes at the target are the source's.
    expect(eventsOf(res.stderr).filter((e) => e.event === "source.md5-stale")).toEqual([]);
    await expectRetriedThrough(res, faults);
  });

  test("a damaged range that comes without the MD5 asked for is not taken: fetched again, never recorded as received", async () => {
    const faults = injectedSoFar();
    // The blob without a stored Content-MD5: only the range's own MD5 could show the damage, and it is left out.
    const res = await faultedRun([
      { fault: "corrupt-response", method: "GET", ranged: true, rangeStart: 2 * MiB, path: /ranged\.bin$/, dropHeaders: ["content-md5"], times: 2 },
    ]);
    expect(proxy.faulted.slice(-2)).toEqual(["corrupt-response GET /source/net/big%2Franged.bin", "corrupt-response GET /source/net/big%2Franged.bin"]);
    await expectRetriedThrough(res, faults);
  });

  test("a blob with no stored Content-MD5, read in one range, damaged on the way: caught by the range's MD5 and fetched again", async () => {
    const faults = injectedSoFar();
    // Written in blocks, so the service stores no MD5 for it; small enough for one read.
    await seed(drill.sites.source, "net", [{ name: "big/one-read.bin", body: randomBytes(600 * 1024), blocks: true }]);
    const res = await faultedRun([{ fault: "corrupt-response", method: "GET", path: /one-read\.bin$/, times: 2 }]);
    expect(proxy.faulted.slice(-2)).toEqual(["corrupt-response GET /source/net/big%2Fone-read.bin", "corrupt-response GET /source/net/big%2Fone-read.bin"]);
    await expectRetriedThrough(res, faults);
  });

  test("stalled responses are abandoned after retry.tryTimeoutSeconds and retried", async () => {
    const faults = injectedSoFar();
    const res = await faultedRun([{ fault: "stall", method: "GET", path: /^\/source\/net\//, times: 3, stallMs: 30000 }, { fault: "stall", method: "PUT", times: 2, stallMs: 30000 }]);
    expect(proxy.injected.stall).toBeGreaterThan(0);
    await expectRetriedThrough(res, faults);
  });

  test("a body that stops halfway is abandoned and fetched again", async () => {
    const faults = injectedSoFar();
    const res = await faultedRun([{ fault: "stall-body", method: "GET", ranged: true, times: 2, stallMs: 30000 }]);
    expect(proxy.injected["stall-body"]).toBeGreaterThan(0);
    await expectRetriedThrough(res, faults);
  });

  test("storage stopped mid-run and started again: the run fails what it must and says so; the next run converges", async () => {
    await changeSource();
    const before = await names();
    const child = drill.spawn(["run", "--log-level", "debug"]);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => { stdout += d; });
    child.stderr!.on("data", (d) => { stderr += d; });
    const done = new Promise<RunResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
    // Pause storage once the transfers have begun.
    await waitFor("the run to pull its first blob", () => /"blob\.pulled"/.test(stderr));
    await drill.sites.pause();
    figures.add("storageRestarts");
    await new Promise((r) => setTimeout(r, 1500));
    await drill.sites.resume();
    const res = await done;
    await expectRetriedOrReported(res, before);
  });
});
