import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, startDrill } from "./support/harness";
import { eventsOf, Figures, waitFor } from "./support/faults";
import { startFaultProxy } from "../tools/fault-proxy/fault-proxy";

/** Debian's libfaketime (apt package `faketime`); the multi-threaded build, as node runs threads. */
const LIBFAKETIME = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"].find((p) => existsSync(p));

/**
 * The VM's clock hours off from the storage service's. The runtime process alone runs under libfaketime
 * (LD_PRELOAD); Azurite and the test keep the real time. Change detection uses ETags only, and the recovery
 * point comes from the service's Date header, so both stay right whatever the VM's clock says.
 */
if (!LIBFAKETIME) {
  // eslint-disable-next-line no-console
  console.warn("faults-clock: SKIPPED: libfaketime not found (apt-get install faketime); the clock-skew scenarios did not run");
}
const describeWithFaketime = LIBFAKETIME ? describe : describe.skip;

describeWithFaketime("clock skew between the VM and the storage service", () => {
  let drill: Drill;
  const figures = new Figures("faults-clock");
  const skewed = (offset: string) => ({ env: { ...drill.env, LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: "1" } });

  beforeAll(async () => {
    drill = await startDrill(["clock"], { rpoObjectiveMinutes: 60 });
    await seed(drill.sites.source, "clock", Array.from({ length: 10 }, (_, i) => ({ name: `c/${i}`, body: `version 1 of ${i}` })));
  });
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  test("libfaketime really moves the runtime's clock", async () => {
    const res = await drill.run(["status", "--json"], skewed("+3h"));
    expect(res.stdout.trim()).toBe("null");
    const now = await drill.run(["run"], skewed("+3h"));
    expect(now.code).toBe(0);
    const started = JSON.parse(now.stderr.split("\n")[0]).time as string;
    expect(Date.parse(started) - Date.now()).toBeGreaterThan(2.9 * 3600e3);
  });

  test.each([["+3h", 10800], ["-5h", -18000]])("VM clock %s: changes found by ETag, recovery point by the service's clock", async (offset, skewSeconds) => {
    // Same size, new content, within the same second: only the ETag tells.
    await seed(drill.sites.source, "clock", Array.from({ length: 10 }, (_, i) => ({ name: `c/${i}`, body: `version ${offset.slice(0, 2)} of ${i}`.slice(0, `version 1 of ${i}`.length) })));
    const before = Date.now();
    const res = await drill.run(["run", "--json"], skewed(offset));
    const after = Date.now();
    figures.add("scenarios");
    expect(res.code).toBe(0);
    const status = JSON.parse(res.stdout);
    expect(status.containers[0].pull.copied).toBe(10);
    await expectSitesEqual(drill);
    figures.add("blobsChecked", 10);
    // The recovery point is real (service) time: within the run, give or take the Date header's one-second grain.
    const rp = Date.parse(status.recoveryPoint);
    expect(rp).toBeGreaterThanOrEqual(before - 3000);
    expect(rp).toBeLessThanOrEqual(after);
    expect(status.rpoAchievedSeconds).toBeLessThan(60);
    expect(Math.abs(status.clockSkewSeconds - skewSeconds)).toBeLessThan(30);
    // status, run with the same skewed clock, measures exposure on the service's clock too.
    const st = await drill.run(["status"], skewed(offset));
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/objective 60m: met/);
  });

  test("VM clock 5 hours behind and a SAS that expired an hour ago: the local check passes, the service refuses, nothing changes", async () => {
    const expired = drill.sites.source.sas("rl", { expiresInMinutes: -60, startsInMinutes: -600 });
    await drill.sites.source.container("clock").deleteBlob("c/0");
    const res = await drill.run(["run"], { env: { ...skewed("-5h").env, DR_SOURCE_SAS: expired } });
    figures.add("scenarios");
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/source .*the SAS in DR_SOURCE_SAS is invalid or expired \(signature or time window rejected\) \(HTTP 403/);
    expect(Object.keys(await (async () => {
      const out: Record<string, true> = {};
      for await (const b of drill.sites.target.container("clock").listBlobsFlat()) out[b.name] = true;
      return out;
    })())).toContain("c/0");
  });

  test("VM clock 10 days ahead: copies kept in the retention area today are not purged early", async () => {
    const ok = await drill.run(["run", "--allow-mass-delete", "clock"]);
    expect(ok.code).toBe(0);
    const list = async () => JSON.parse((await drill.run(["retention", "list", "--json"])).stdout) as { name: string }[];
    const kept = await list();
    expect(kept.map((c) => c.name)).toContain("c/0");
    const res = await drill.run(["run"], skewed("+10d"));
    figures.add("scenarios");
    expect(res.code).toBe(0);
    expect((await list()).length).toBe(kept.length);
  });

  test("a kept copy older than retentionDays by both clocks is still purged", async () => {
    const old = join(drill.config.stagingDir, "retention", "2000-01-01", "site", "clock");
    mkdirSync(old, { recursive: true });
    const res = await drill.run(["run"], skewed("-5h"));
    expect(res.code).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(res.stderr).toMatch(/"retention.purged"/);
  });
});

describeWithFaketime("retention is filed, ordered and purged by the service's clock", () => {
  let drill: Drill;
  const skewed = (offset: string) => ({ env: { ...drill.env, LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: "1" } });
  const put = (v: string) => seed(drill.sites.source, "ret", [{ name: "doc.txt", body: `content ${v}` }]);
  beforeAll(async () => {
    drill = await startDrill(["ret"], { retentionDays: 7 });
  });
  afterAll(() => drill?.stop());

  test("copies kept while the VM clock was days behind or ahead survive the clock's correction, and restore picks the newest", async () => {
    // The service's clock is known to within its Date header's second, so runs are spaced by more than that (real
    // cycles are minutes apart); copies kept by two runs less than a second apart may list in either order.
    const pause = () => new Promise((r) => setTimeout(r, 1200));
    await put("v1");
    expect((await drill.run(["run"])).code).toBe(0);
    await put("v2");
    expect((await drill.run(["run"], skewed("-10d"))).code).toBe(0); // keeps v1
    await pause();
    await put("v3");
    expect((await drill.run(["run"], skewed("+3d"))).code).toBe(0); // keeps v2
    await pause();
    await put("v4");
    const corrected = await drill.run(["run"]); // keeps v3; the clock is right again
    expect(corrected.code).toBe(0);
    const kept = (JSON.parse((await drill.run(["retention", "list", "--json", "--container", "ret"])).stdout) as { retainedAt: string; dataPath?: string; site: string }[])
      .filter((k) => !k.site.startsWith("target versions")) as { retainedAt: string; dataPath: string }[];
    expect(kept.map((k) => readFileSync(k.dataPath, "utf8"))).toEqual(["content v3", "content v2", "content v1"]);
    // Filed by the service's clock: every copy is dated today, within the test's run time.
    for (const k of kept) expect(Math.abs(Date.parse(k.retainedAt) - Date.now())).toBeLessThan(10 * 60e3);
    const out = join(drill.dir, "restored.txt");
    expect((await drill.run(["restore", "--container", "ret", "--blob", "doc.txt", "--out", out])).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("content v3");
  });
});

describeWithFaketime("the VM's clock steps in the middle of a run", () => {
  test("an NTP step 40 days ahead after the last listing purges no kept copy and counts no 40 days of exposure", async () => {
    const drill = await startDrill(["step"], { retentionDays: 7 });
    // The target behind a proxy that holds back the push's two overwrites, which go after its listing of the
    // target: the clock steps while the first is held, and the second keeps the run going past the step to its
    // purges. (No target versions through a proxy, see throughProxy; they are purged by the same service time.)
    const proxy = await startFaultProxy({ upstreamPort: () => drill.sites.port, seed: 3 });
    const stepFile = join(drill.dir, "faketime");
    writeFileSync(stepFile, "+0\n");
    const stepping = { env: { ...drill.env, LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: stepFile, FAKETIME_NO_CACHE: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" } };
    const put = (v: string) => seed(drill.sites.source, "step", ["doc.txt", "other.txt"].map((name) => ({ name, body: `${name} ${v}` })));
    const kept = async () => (JSON.parse((await drill.run(["retention", "list", "--json", "--container", "step"])).stdout) as { retainedAt: string; dataPath: string }[]);
    const contents = (ks: { dataPath: string }[]) => ks.map((k) => readFileSync(k.dataPath, "utf8")).sort();
    try {
      drill.writeConfig({ containers: ["step"], retentionDays: 7, versionsContainer: null, target: { blobEndpoint: `${proxy.url}/target/`, sasEnv: "DR_TARGET_SAS" } });
      await put("v1");
      expect((await drill.run(["run"], stepping)).code).toBe(0);
      await put("v2");
      expect((await drill.run(["run"], stepping)).code).toBe(0); // keeps the v1s
      expect(contents(await kept())).toEqual(["doc.txt v1", "other.txt v1"]);

      await put("v3");
      proxy.setRules([
        { fault: "delay", method: "PUT", path: /\/target\/step\/doc\.txt$/, delayMs: 1000, times: 1 },
        { fault: "delay", method: "PUT", path: /\/target\/step\/other\.txt$/, delayMs: 5000, times: 1 },
      ]);
      const running = drill.run(["run", "--json"], stepping);
      await waitFor("the first overwrite to be held back", () => proxy.injected.delay >= 1, 60000);
      writeFileSync(stepFile, "+40d\n");
      const res = await running;
      expect(res.code).toBe(0);
      expect(proxy.injected.delay).toBe(2);
      // The step reached the runtime: its last lines are dated 40 days ahead.
      const last = eventsOf(res.stderr).at(-1) as unknown as { time: string };
      expect(Date.parse(last.time) - Date.now()).toBeGreaterThan(39 * 86400e3);
      expect(JSON.parse(res.stdout).rpoAchievedSeconds).toBeLessThan(60);
      expect(res.stderr).not.toMatch(/"retention\.purged"/);
      // Every copy is still kept, filed today by the service's clock.
      const after = await kept();
      expect(contents(after)).toEqual(["doc.txt v1", "doc.txt v2", "other.txt v1", "other.txt v2"]);
      for (const k of after) expect(Math.abs(Date.parse(k.retainedAt) - Date.now())).toBeLessThan(10 * 60e3);
      await expectSitesEqual(drill);
    } finally {
      await proxy.stop();
      await drill.stop();
    }
  });
});
