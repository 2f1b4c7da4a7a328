import { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, SeedBlob, snapshot, startDrill, throughProxy, walk } from "./support/harness";
import { RecordingProxy, SeenRequest, startRecordingProxy } from "./support/recording-proxy";
import { eventsOf, waitFor } from "./support/faults";
import { FaultProxy, FaultRule, startFaultProxy } from "../tools/fault-proxy/fault-proxy";
import { StagingIndex } from "../runtime/src/index/staging-index";
import { AHEAD_BLOCKS } from "../runtime/src/state/push-records";
import { stagedContainerDirs } from "./support/staged-index";

/**
 * New blobs go to the target while the pull is still reading the source (runtime/src/sync/push-ahead.ts), so that
 * a first copy keeps both sites busy at once. The proxy holds one source read open to show it, and a write at the
 * DR site slipped in meanwhile shows that going ahead never replaces anything unseen.
 */
describe("pushing new blobs ahead of the push", () => {
  let drill: Drill;
  let proxy: RecordingProxy;
  const containers = ["first", "written-at-dr", "swapped", "large", "changed-mid-read"];

  beforeAll(async () => {
    drill = await startDrill(containers, { transferConcurrency: 4 });
    proxy = await startRecordingProxy(() => drill.sites.port);
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await drill?.stop();
  });

  const exited = (child: ChildProcess) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    let stderr = "";
    child.stderr!.on("data", (d) => { stderr += d; });
    child.on("close", (code) => resolve({ code, stderr }));
  });
  const sourceRead = (container: string, blob: string) => (r: SeenRequest) => r.account === "source" && r.method === "GET" && r.container === container && r.blob === blob;
  const targetUploads = (container: string) => proxy.seen.filter((r) => r.account === "target" && r.container === container && r.upload);
  const status = () => JSON.parse(readFileSync(join(drill.config.stateDir, "status.json"), "utf8"));
  /** Container C alone, through the proxy, its names seeded; a `run` started with the source's read of `held` held. */
  const runHolding = async (C: string, names: string[], blob: (name: string) => SeedBlob, held: string) => {
    await seed(drill.sites.source, C, names.map(blob));
    drill.writeConfig({ ...throughProxy(proxy.url), containers: [C], transferConcurrency: 4 });
    proxy.seen.length = 0;
    proxy.hold(sourceRead(C, held));
    // Wrapped: an async function would wait for a returned promise, and the run cannot end while the read is held.
    return { run: exited(drill.spawn(["run"])) };
  };
  const expectExitedOk = (res: { code: number | null; stderr: string }) =>
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });

  test("a first copy writes new blobs at the target while the pull is still reading the source, each once", async () => {
    const C = "first";
    const names = Array.from({ length: 30 }, (_, i) => `d/${String(i).padStart(2, "0")}.txt`);
    const { run } = await runHolding(C, names, (name) => ({ name, body: `content of ${name}`, metadata: { name: "x" } }), names[29]);
    // The last source blob's read is held: the pull cannot end, and yet the other 29 reach the target.
    await waitFor("29 blobs at the target while the pull holds the last read", () => targetUploads(C).length >= 29);
    expect(proxy.seen.some(sourceRead(C, names[29]))).toBe(true);
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    // Nothing is written twice: the push after the pull finds the 29 done by their records, and writes the last.
    expect(targetUploads(C).map((r) => r.blob).sort()).toEqual(names);
    expect(status().containers[0].push).toMatchObject({ copied: 30, skipped: 0, failed: 0 });
  });

  test("a blob written at the DR site after the target was listed is not replaced unseen: kept, then replaced by the push", async () => {
    const C = "written-at-dr";
    const names = Array.from({ length: 10 }, (_, i) => `e/${i}.txt`);
    const { run } = await runHolding(C, names, (name) => ({ name, body: `source ${name}` }), "e/5.txt");
    await waitFor("the pull's read of e/5.txt", () => proxy.seen.some(sourceRead(C, "e/5.txt")));
    // The target was listed (empty) before anything went ahead; now someone writes e/5.txt there.
    await drill.sites.target.container(C).createIfNotExists();
    const dr = "written at the DR site";
    await drill.sites.target.container(C).getBlockBlobClient("e/5.txt").upload(dr, dr.length);
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    // The DR site's version was kept in the retention area before the source's replaced it (the proxy turns the
    // target's versions off: see throughProxy).
    const kept = walk(join(drill.config.stagingDir, "retention")).filter((f) => f.endsWith(".bin")).map((f) => readFileSync(f, "utf8"));
    expect(kept).toContain(dr);
    // e/5.txt was tried ahead (create-only, refused) and then written by the push: the other 9 once each.
    const uploads = targetUploads(C).map((r) => r.blob);
    expect(uploads.filter((b) => b !== "e/5.txt").sort()).toEqual(names.filter((n) => n !== "e/5.txt"));
    expect(uploads.filter((b) => b === "e/5.txt").length).toBe(2);
    expect(status().containers[0].push).toMatchObject({ copied: 10, retainedFromDestination: 1, failed: 0 });
  });

  const MiB = 1024 * 1024;
  /** A large new blob in ranges of 1 MiB, its last range's read held: what reaches the target meanwhile. */
  const holdLastRange = async (C: string, size: number) => {
    await seed(drill.sites.source, C, [{ name: "big.bin", body: randomBytes(size), blocks: true }]);
    drill.writeConfig({ ...throughProxy(proxy.url), containers: [C], transferConcurrency: 4, blockSizeMiB: 1, singleShotMaxMiB: 1 });
    proxy.seen.length = 0;
    const last = Math.floor(size / MiB) * MiB;
    proxy.hold((r) => sourceRead(C, "big.bin")(r) && r.rangeStart === last);
    return { run: exited(drill.spawn(["run"])) };
  };
  const putBlocks = (C: string) => proxy.seen.filter((r) => r.account === "target" && r.container === C && r.blob === "big.bin" && r.method === "PUT" && r.comp === "block");

  test("a large new blob's blocks go to the target while its last range is still being read, and are committed from there", async () => {
    const C = "large";
    const { run } = await holdLastRange(C, 5 * MiB + 3);
    await waitFor("5 of 6 blocks at the target while the last range's read is held", () => putBlocks(C).length >= 5);
    // Uncommitted: nothing is visible at the target before the whole blob is staged and checked.
    expect(await drill.sites.target.container(C).getBlockBlobClient("big.bin").exists()).toBe(false);
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    // Each range went once, as a block sent ahead (the upload sent none again), and one Put Block List made the blob.
    expect(putBlocks(C).length).toBe(6);
    expect(targetUploads(C).map((r) => r.blob)).toEqual(["big.bin"]);
    const committed = await drill.sites.target.container(C).getBlockBlobClient("big.bin").getBlockList("committed");
    expect(committed.committedBlocks?.map((b) => b.size)).toEqual([MiB, MiB, MiB, MiB, MiB, 3]);
  });

  test("a large blob rewritten at the source while it downloads: the blocks sent for the old version are never committed", async () => {
    const C = "changed-mid-read";
    const size = 5 * MiB + 3;
    const { run } = await holdLastRange(C, size);
    await waitFor("5 blocks of the first version at the target", () => putBlocks(C).length >= 5);
    const v2 = randomBytes(size);
    await seed(drill.sites.source, C, [{ name: "big.bin", body: v2, blocks: true }]);
    // The held read now meets the new version's ETag (412): the download starts over on the new version.
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    expect(createHash("sha256").update(await drill.sites.target.container(C).getBlockBlobClient("big.bin").downloadToBuffer()).digest("hex"))
      .toBe(createHash("sha256").update(v2).digest("hex"));
    // The second version's blocks were sent by the upload itself: more Put Blocks than ranges.
    expect(putBlocks(C).length).toBeGreaterThan(6);
  });

  test("a source that lost every blob the target holds and gained more new ones, on fresh staging: the guard still stops the deletions", async () => {
    // A new VM (fresh staging) pointed at a source that was emptied and refilled under other names (ransomware
    // writing x.locked for every x): the new blobs go ahead while the pull goes on, and must not dilute the push's
    // delete guard (20 of 50 would pass its 50%; 20 of the 20 the target held must not).
    const C = "swapped";
    const old = Array.from({ length: 20 }, (_, i) => `o/${i}.txt`);
    await seed(drill.sites.source, C, old.map((name) => ({ name, body: `old ${name}` })));
    drill.writeConfig({ ...throughProxy(proxy.url), containers: [C], transferConcurrency: 4 });
    expect((await drill.run(["run"])).code).toBe(0);
    for (const name of old) await drill.sites.source.container(C).deleteBlob(name);
    const fresh = Array.from({ length: 30 }, (_, i) => `o/${i}.txt.locked`);
    await seed(drill.sites.source, C, fresh.map((name) => ({ name, body: `encrypted ${name}` })));
    rmSync(drill.config.stagingDir, { recursive: true, force: true });
    proxy.seen.length = 0;
    const res = await drill.run(["run"]);
    expect({ code: res.code, guard: eventsOf(res.stderr).find((e) => e.event === "guard.stopped")?.msg })
      .toEqual({ code: 4, guard: expect.stringMatching(/20 deletion\(s\) would remove 100\.0% of the 20 blob\(s\)/) });
    expect(proxy.seen.filter((r) => r.account === "target" && r.method === "DELETE")).toEqual([]);
    const target = Object.keys(await snapshot(drill.sites.target.container(C))).sort();
    // Every old blob is still at the DR site; the new ones went ahead (the case the guard must see through).
    expect(target).toEqual([...old, ...fresh].sort());
  });
});

describe("after a guard stopped a run whose new blobs went ahead", () => {
  let drill: Drill;
  const C = "swapped-kept";
  let slow: FaultProxy;
  beforeAll(async () => {
    drill = await startDrill([C, "cut-short", "swapped-killed", "journaled"], { transferConcurrency: 4 });
    // Reads of new blobs answered slowly, so a run killed midway has committed its index's batches (a run killed
    // within its first second loses them all, and with them the case).
    slow = await startFaultProxy({ upstreamPort: () => drill.sites.port, rules: [{ fault: "delay", method: "GET", path: /^\/source\/(swapped-killed|cut-short)\/./, delayMs: 120 }] });
  }, 60_000);
  afterAll(async () => {
    await slow?.stop();
    await drill?.stop();
  });

  const guardMessage = (stderr: string) => eventsOf(stderr).find((e) => e.event === "guard.stopped")?.msg;
  const names = async (side: "source" | "target", c: string) => Object.keys(await snapshot(drill.sites[side].container(c))).sort();

  test("the next runs stop too, with staging kept, until the operator allows the deletions; then nothing is held out any more", async () => {
    const old = Array.from({ length: 20 }, (_, i) => `o/${i}.txt`);
    const fresh = Array.from({ length: 30 }, (_, i) => `o/${i}.txt.locked`);
    await seed(drill.sites.source, C, old.map((name) => ({ name, body: `old ${name}` })));
    drill.writeConfig({ containers: [C] });
    expect((await drill.run(["run"])).code).toBe(0);
    // Ransomware: every blob replaced by a new name. The new ones are staged and written ahead before the guard.
    for (const name of old) await drill.sites.source.container(C).deleteBlob(name);
    await seed(drill.sites.source, C, fresh.map((name) => ({ name, body: `encrypted ${name}` })));
    const first = await drill.run(["run"]);
    expect({ code: first.code, guard: guardMessage(first.stderr) })
      .toEqual({ code: 4, guard: expect.stringMatching(/20 deletion\(s\) would remove 100\.0% of the 20 blob\(s\) in staging/) });
    const originals = async () => (await names("target", C)).filter((n) => old.includes(n));
    expect(await originals()).toEqual([...old].sort());
    // Most new blobs went ahead before the guard stopped the writes ahead.
    expect((await names("target", C)).length).toBeGreaterThan(old.length + 20);
    // The next scheduled runs find staging and the target holding up to 50: 20 of 50 would pass at 40%. They must not.
    for (let i = 0; i < 2; i++) {
      const again = await drill.run(["run"]);
      expect({ run: i, code: again.code, guard: guardMessage(again.stderr), pending: eventsOf(again.stderr).find((e) => e.event === "guard.pending")?.pending })
        .toEqual({ run: i, code: 4, guard: expect.stringMatching(/20 deletion\(s\) would remove 100\.0% of the 20 blob\(s\) in staging/), pending: 30 });
      expect(await originals()).toEqual([...old].sort());
    }
    // A `push` on its own meanwhile (nothing to delete: staging still holds the originals) writes the rest of the new
    // names, and must not let them in: the pull has not.
    expect((await drill.run(["push"])).code).toBe(0);
    // Staging alone let through on purpose: the push, on its own, still counts the blobs written ahead out.
    expect((await drill.run(["pull", "--allow-mass-delete", C])).code).toBe(0);
    const push = await drill.run(["push"]);
    expect({ code: push.code, guard: guardMessage(push.stderr) })
      .toEqual({ code: 4, guard: expect.stringMatching(/^delete guard stopped the push of container "swapped-kept": 20 deletion\(s\) would remove 100\.0% of the 20 blob\(s\)/) });
    expect(await originals()).toEqual([...old].sort());
    // The operator says it is intended: both hops pass, the target follows the source, the originals are kept.
    const allowed = await drill.run(["run", "--allow-mass-delete", C]);
    expect({ code: allowed.code, stderr: allowed.code === 0 ? "" : allowed.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill, [C]);
    // And afterwards nothing is held out: a few deletions among the 30 pass as a small share.
    for (const name of fresh.slice(0, 3)) await drill.sites.source.container(C).deleteBlob(name);
    const after = await drill.run(["run"]);
    expect({ code: after.code, guard: guardMessage(after.stderr) }).toEqual({ code: 0, guard: undefined });
    await expectSitesEqual(drill, [C]);
  });

  test("a run killed in the middle of the same attack, before any guard counted: the next run stops it all the same", async () => {
    const c = "swapped-killed";
    const old = Array.from({ length: 20 }, (_, i) => `o/${i}.txt`);
    const fresh = Array.from({ length: 30 }, (_, i) => `o/${i}.txt.locked`);
    await seed(drill.sites.source, c, old.map((name) => ({ name, body: `old ${name}` })));
    drill.writeConfig({ ...throughProxy(slow.url), containers: [c], transferConcurrency: 1 });
    expect((await drill.run(["run"])).code).toBe(0);
    for (const name of old) await drill.sites.source.container(c).deleteBlob(name);
    await seed(drill.sites.source, c, fresh.map((name) => ({ name, body: `encrypted ${name}` })));
    const killed = await drill.run(["run"], { env: { ...drill.env, DR_SYNC_KILL_AT: "push.ahead.after-upload:25" } });
    expect(killed.signal ?? killed.code).toBe("SIGKILL");
    expect((await names("target", c)).length).toBeGreaterThan(old.length);
    const next = await drill.run(["run"]);
    expect({ code: next.code, guard: guardMessage(next.stderr) })
      .toEqual({ code: 4, guard: expect.stringMatching(/^delete guard stopped the pull of container "swapped-killed": 20 deletion\(s\) would remove 100\.0% of the 20 blob\(s\) in staging/) });
    expect((await names("target", c)).filter((n) => old.includes(n))).toEqual([...old].sort());
  });

  test("new names journaled as dual-write misses are repaired before the guards, and do not dilute them either", async () => {
    const c = "journaled";
    const old = Array.from({ length: 20 }, (_, i) => `o/${i}.txt`);
    await seed(drill.sites.source, c, old.map((name) => ({ name, body: `old ${name}` })));
    drill.writeConfig({ containers: [c] });
    expect((await drill.run(["run"])).code).toBe(0);
    // 10 new names written at the source, each journaled as missed at the DR site; 12 originals deleted there.
    const fresh = Array.from({ length: 10 }, (_, i) => `j/${i}.txt`);
    await seed(drill.sites.source, c, fresh.map((name) => ({ name, body: `new ${name}` })));
    const at = new Date();
    const lines = fresh.map((blob) => JSON.stringify({ v: 1, at: at.toISOString(), written: "hub-east", missed: "hub-west", container: c, blob, operation: "put blob", failure: { code: "ECONNRESET" } })).join("\n") + "\n";
    const status = drill.sites.source.container("dr-sync-status");
    await status.createIfNotExists();
    await status.getBlockBlobClient(`dual-write-misses/${at.toISOString().slice(0, 13)}.jsonl`).upload(lines, Buffer.byteLength(lines));
    for (const name of old.slice(0, 12)) await drill.sites.source.container(c).deleteBlob(name);
    const res = await drill.run(["run"]);
    // 12 of the 20 held (60%), not 12 of 30 (40%, under the limit).
    expect({ code: res.code, repaired: eventsOf(res.stderr).find((e) => e.event === "misses.repaired")?.repaired, guard: guardMessage(res.stderr) })
      .toEqual({ code: 4, repaired: 10, guard: expect.stringMatching(/12 deletion\(s\) would remove 60\.0% of the 20 blob\(s\) in staging/) });
    expect((await names("target", c)).filter((n) => old.includes(n))).toEqual([...old].sort());
  });

  test("a first copy killed after blobs went ahead: deleting some of them at the source next run is no mass deletion of what was held", async () => {
    const c = "cut-short";
    const all = Array.from({ length: 20 }, (_, i) => `n/${String(i).padStart(2, "0")}.txt`);
    await seed(drill.sites.source, c, all.map((name) => ({ name, body: `new ${name}` })));
    drill.writeConfig({ ...throughProxy(slow.url), containers: [c], transferConcurrency: 1 });
    const killed = await drill.run(["run"], { env: { ...drill.env, DR_SYNC_KILL_AT: "push.ahead.after-upload:10" } });
    expect(killed.signal ?? killed.code).toBe("SIGKILL");
    const written = await names("target", c);
    expect(written.length).toBeGreaterThanOrEqual(9);
    // 4 of the 20 go at the source: names no guard has passed yet, neither held nor lost (nothing was held before).
    for (const name of all.slice(0, 4)) await drill.sites.source.container(c).deleteBlob(name);
    const next = await drill.run(["run"]);
    expect({ code: next.code, guard: guardMessage(next.stderr), stderr: next.code === 0 ? "" : next.stderr.slice(-1500) })
      .toEqual({ code: 0, guard: undefined, stderr: "" });
    await expectSitesEqual(drill, [c]);
  });
});

/**
 * Blocks sent ahead of a download that then fails wait uncommitted at the target (the service keeps at most
 * 100,000 per blob, for a week). A blob whose download keeps failing while it keeps being rewritten must not leave
 * a new set every run.
 */
describe("blocks sent ahead of downloads that keep failing", () => {
  const MiB = 1024 * 1024;
  const C = "keeps-failing";
  let drill: Drill;
  let proxy: FaultProxy;

  beforeAll(async () => {
    drill = await startDrill([C]);
    proxy = await startFaultProxy({ upstreamPort: () => drill.sites.port });
    drill.writeConfig({
      ...throughProxy(proxy.url), containers: [C], transferConcurrency: 4, blockSizeMiB: 1, singleShotMaxMiB: 1,
      retry: { maxTries: 2, retryDelayMs: 20, maxRetryDelayMs: 50, tryTimeoutSeconds: 5 },
    });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await drill?.stop();
  });

  const uncommittedPrefixes = async () => {
    const list = await drill.sites.target.container(C).getBlockBlobClient("big.bin").getBlockList("uncommitted").catch(() => undefined);
    return [...new Set((list?.uncommittedBlocks ?? []).map((b) => Buffer.from(b.name, "base64").toString().slice(0, 7)))];
  };

  /** The source's listing answers after a second: the walk of the (small) target has ended, so blocks can go ahead. */
  const walkFirst: FaultRule = { fault: "delay", method: "GET", path: /^\/source\/keeps-failing$/, comp: "list", delayMs: 1000 };

  test("one version's set waits at the target; later versions go with the push, and the commit that finally lands clears it", async () => {
    const size = 5 * MiB + 3;
    const bigRange = (extra: Partial<FaultRule>): FaultRule => ({ fault: "status", status: 500, method: "GET", path: /\/source\/keeps-failing\/big\.bin$/, rangeStart: 5 * MiB, ...extra });
    let first: string[] | undefined;
    for (let version = 1; version <= 3; version++) {
      await seed(drill.sites.source, C, [{ name: "big.bin", body: randomBytes(size), blocks: true }]);
      // The last range of big.bin fails every time, its first try only after the others have landed and gone
      // ahead: the blob fails each run, after five blocks could have gone to the target.
      proxy.setRules([walkFirst, bigRange({ delayMs: 1500, times: 1 }), bigRange({})]);
      const res = await drill.run(["run"]);
      expect(eventsOf(res.stderr).filter((e) => e.event === "blob.failed").map((e) => [e.hop, e.blob])).toEqual([["pull", "big.bin"]]);
      expect(res.code).toBe(1);
      const prefixes = await uncommittedPrefixes();
      // The first version's blocks went ahead; later versions add none (without the bound, each added its own set).
      first ??= prefixes;
      expect(prefixes).toEqual(first);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatch(/^e/);
    }
    const aheadRows = () => {
      const [containerDir] = stagedContainerDirs(drill.config.stagingDir);
      const index = StagingIndex.open(join(containerDir, "index.db"), { reader: true });
      try {
        return index.countQueued(AHEAD_BLOCKS);
      } finally {
        index.close();
      }
    };
    expect(aheadRows()).toBe(1);
    proxy.setRules([]);
    const res = await drill.run(["run"]);
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill, [C]);
    expect(await uncommittedPrefixes()).toEqual([]);
    // The name's row went with the commit: a later new version of it may go ahead again.
    expect(aheadRows()).toBe(0);
  });

  test("a block the target refuses ahead of its download leaves the blob's other blocks to the upload, not tried one by one", async () => {
    const config = {
      ...throughProxy(proxy.url), containers: [C], transferConcurrency: 4, blockSizeMiB: 1, singleShotMaxMiB: 1, blockConcurrency: 1,
      retry: { maxTries: 2, retryDelayMs: 20, maxRetryDelayMs: 50, tryTimeoutSeconds: 5 },
    };
    drill.writeConfig(config);
    await seed(drill.sites.source, C, [{ name: "refused.bin", body: randomBytes(6 * MiB + 1), blocks: true }]);
    // The first Put Block at the target (one sent ahead: the walk ended first) fails both its tries; every later one
    // would succeed.
    proxy.setRules([walkFirst, { fault: "status", status: 503, retryAfterSeconds: 0, method: "PUT", comp: "block", path: /\/target\/keeps-failing\/refused\.bin$/, times: 2 }]);
    const res = await drill.run(["run"]);
    proxy.setRules([]);
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill, [C]);
    // Every committed block was sent by the upload ("drsync-"): none of the six that landed after the refusal went ahead.
    const committed = await drill.sites.target.container(C).getBlockBlobClient("refused.bin").getBlockList("committed");
    expect(committed.committedBlocks?.map((b) => Buffer.from(b.name, "base64").toString().slice(0, 7))).toEqual(Array(7).fill("drsync-"));
  });

  test("blocks refused for their ID length (another writer's uncommitted blocks wait there) fail the blob with the reason, and nothing else", async () => {
    await seed(drill.sites.source, C, [{ name: "foreign.bin", body: randomBytes(3 * MiB + 1), blocks: true }]);
    // What the service answers then (Azurite does not keep the rule): 400 InvalidBlobOrBlock to every Put Block there.
    proxy.setRules([{ fault: "status", status: 400, errorCode: "InvalidBlobOrBlock", method: "PUT", comp: "block", path: /\/target\/keeps-failing\/foreign\.bin$/ }]);
    const res = await drill.run(["run"]);
    proxy.setRules([]);
    expect(res.code).toBe(1);
    const failed = eventsOf(res.stderr).filter((e) => e.event === "blob.failed");
    expect(failed.map((e) => [e.hop, e.blob])).toEqual([["push", "foreign.bin"]]);
    expect(failed[0].msg).toMatch(/uncommitted blocks of another writer, with block IDs of another length, wait under this name; the service refuses ours until they are committed or expire \(up to 7 days\)/);
    expect(await drill.sites.target.container(C).getBlockBlobClient("foreign.bin").exists()).toBe(false);
    const next = await drill.run(["run"]);
    expect({ code: next.code, stderr: next.code === 0 ? "" : next.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill, [C]);
  });
});
