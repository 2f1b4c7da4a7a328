import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChildProcess } from "node:child_process";
import { compareNames } from "../runtime/src/index/blob-name";
import { listBlobs } from "../runtime/src/listing/blob-lister";
import { containerPart, ownsName, topLevelKey } from "../runtime/src/shard/part";
import { renderFence } from "../runtime/src/state/fence";
import { validateConfig } from "../runtime/src/config/schema";
import { SiteClient } from "../runtime/src/storage/site-client";
import { SCRATCH_PREFIX } from "../runtime/src/transfer/file-to-page-or-append";
import { siteKey } from "../runtime/src/staging/object-path";
import { Drill, expectSitesEqual, manyBlobs, RunResult, SeedBlob, seed, startDrill } from "./support/harness";
import { Figures, waitFor } from "./support/faults";
import { HOSTILE_NAMES } from "./support/hostile-names";
import { RecordingProxy, SeenRequest, startRecordingProxy } from "./support/recording-proxy";

const BIG = "big";
/** A whole container that shard 2 of 3 owns, so it moves when N goes to 2: its blobs have no Content-MD5 (uploaded in blocks, as large blobs are). */
const MOVING = Array.from({ length: 50 }, (_, i) => `blocks-${i}`).find((c) => containerPart({ index: 2, count: 3, split: [BIG] }, c).kind === "whole")!;
const WHOLE = ["alpha", "beta", "gamma", "delta", MOVING];
const CONTAINERS = [...WHOLE, BIG];
const PREFIXES = Array.from({ length: 20 }, (_, i) => `tenant-${String(i).padStart(2, "0")}`);

/** A few hundred blobs across 20 top-level prefixes (nested below them), and some top-level blobs. */
function bigBlobs(tag: string, perPrefix: number): SeedBlob[] {
  const out: SeedBlob[] = [];
  for (const p of PREFIXES) {
    for (let i = 0; i < perPrefix; i++) {
      out.push({ name: `${p}/${i % 3}/${tag}-${i}.bin`, body: `${p}-${tag}-${i}`.padEnd(40, "."), contentType: "application/octet-stream", metadata: { tenant: p, n: String(i) } });
    }
  }
  for (let i = 0; i < 5; i++) out.push({ name: `top-${tag}-${i}`, body: `top ${tag} ${i}`, cacheControl: "no-cache" });
  return out;
}

/**
 * Scale-out: N dr-sync processes, each with its own shard of the pair, its own state and staging, its own
 * recording proxy so every request is attributed to the shard that made it.
 */
describe("shards: N concurrent dr-sync processes split one pair", () => {
  let drill: Drill;
  let proxy: RecordingProxy;
  /** Per shard index: an environment whose two SAS tokens differ from the others' only in their expiry. */
  const envs: NodeJS.ProcessEnv[] = [];
  const expiries: string[][] = [];
  const figures = new Figures("faults-shards");
  /** The requests shard `i` made, told apart by its tokens' expiry. */
  const seenBy = (i: number): SeenRequest[] => proxy.seen.filter((r) => r.sasExpiry !== undefined && expiries[i].includes(r.sasExpiry));

  const configFor = (i: number, count: number): string => {
    const path = join(drill.dir, `shard-${i}-of-${count}.json`);
    const url = proxy.url;
    writeFileSync(path, JSON.stringify({
      ...drill.config,
      source: { blobEndpoint: `${url}/source/`, sasEnv: "DR_SOURCE_SAS" },
      target: { blobEndpoint: `${url}/target/`, sasEnv: "DR_TARGET_SAS" },
      shard: { count, split: [BIG] },
      rpoObjectiveMinutes: 60,
    }, null, 2), { mode: 0o600 });
    return path;
  };
  const runShard = (i: number, count: number, args: string[] = ["run"]) =>
    drill.run([...args, "--config", configFor(i, count), "--shard", `${i}/${count}`], { env: envs[i], timeoutMs: 300000 });
  const runAll = (count: number) => Promise.all(Array.from({ length: count }, (_, i) => runShard(i, count)));
  const statusOf = (count: number) => drill.run(["status", "--json", "--config", configFor(0, count)], { env: envs[0] });
  const clearSeen = () => { proxy.seen.length = 0; };
  const dataUploads = (i: number) => seenBy(i).filter((r) => r.account === "target" && CONTAINERS.includes(r.container) && r.upload && !r.blob.startsWith(SCRATCH_PREFIX));
  const dataDeletes = (i: number) => seenBy(i).filter((r) => r.account === "target" && CONTAINERS.includes(r.container) && r.method === "DELETE" && r.blob);
  const sourceNames = async (c: string) => {
    const out: string[] = [];
    for await (const b of drill.sites.source.container(c).listBlobsFlat()) out.push(b.name);
    return out;
  };
  const expectOk = (results: RunResult[]) => {
    for (const r of results) expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
  };

  beforeAll(async () => {
    drill = await startDrill(CONTAINERS);
    proxy = await startRecordingProxy(() => drill.sites.port);
    for (let i = 0; i < 3; i++) {
      const minutes = 30 * 24 * 60 + 10 * i;
      const src = drill.sites.source.sas("rl", { expiresInMinutes: minutes });
      const dst = drill.sites.target.sas("rwdlac", { expiresInMinutes: minutes });
      envs.push({ ...drill.env, DR_SOURCE_SAS: src, DR_TARGET_SAS: dst });
      expiries.push([new URLSearchParams(src).get("se")!, new URLSearchParams(dst).get("se")!]);
    }
    for (const c of WHOLE) await seed(drill.sites.source, c, manyBlobs(25, c).map((b) => ({ ...b, blocks: c === MOVING })));
    await seed(drill.sites.source, BIG, bigBlobs("v1", 15));
    // Append and page blobs go through scratch blobs at the target: in a split container every shard writes some there at once.
    for (const p of PREFIXES.slice(0, 9)) {
      const log = drill.sites.source.container(BIG).getAppendBlobClient(`${p}/log.txt`);
      await log.create({ metadata: { kind: "log" } });
      await log.appendBlock(`first line of ${p}\n`, `first line of ${p}\n`.length);
      const disk = drill.sites.source.container(BIG).getPageBlobClient(`${p}/disk.vhd`);
      await disk.create(4096);
      await disk.uploadPages(Buffer.alloc(512, p), 1024, 512);
    }
  });
  afterAll(async () => {
    figures.write();
    await proxy?.stop();
    await drill?.stop();
  });

  test("3 shards at once: the union at the target is the source, every blob written by exactly one shard, each shard lists only its part", async () => {
    const results = await runAll(3);
    expectOk(results);
    figures.add("scenarios");
    await expectSitesEqual(drill);

    // Every source blob uploaded once, by one shard.
    const writers = new Map<string, number[]>();
    [0, 1, 2].forEach((i) => {
      for (const u of dataUploads(i)) writers.set(`${u.container}/${u.blob}`, [...(writers.get(`${u.container}/${u.blob}`) ?? []), i]);
    });
    let total = 0;
    for (const c of CONTAINERS) {
      for (const n of await sourceNames(c)) {
        expect({ blob: `${c}/${n}`, writers: writers.get(`${c}/${n}`)?.length }).toEqual({ blob: `${c}/${n}`, writers: 1 });
        total++;
      }
    }
    expect(writers.size).toBe(total);
    figures.add("blobsChecked", total);
    // Page and append blobs went through scratch blobs named for the shard that wrote them, and none is left.
    for (let i = 0; i < 3; i++) {
      const scratch = seenBy(i).filter((r) => r.account === "target" && r.method === "PUT" && r.blob.startsWith(SCRATCH_PREFIX));
      for (const r of scratch) expect(r.blob.startsWith(`${SCRATCH_PREFIX}shard-${i}-`)).toBe(true);
    }
    expect(writers.has(`${BIG}/${PREFIXES[0]}/log.txt`)).toBe(true);
    for await (const b of drill.sites.target.container(BIG).listBlobsFlat({ prefix: SCRATCH_PREFIX })) throw new Error(`scratch blob left: ${b.name}`);

    // Listings: a shard lists a whole container only if it owns it; the split container once at the top level
    // (delimiter "/") and then only its own top-level prefixes, on both sides.
    const listedPrefixes = new Map<string, number[]>();
    [0, 1, 2].forEach((i) => {
      const lists = seenBy(i).filter((r) => r.list && CONTAINERS.includes(r.container));
      for (const r of lists) {
        const part = containerPart({ index: i, count: 3, split: [BIG] }, r.container);
        if (r.container !== BIG) {
          expect({ shard: i, container: r.container, kind: part.kind }).toEqual({ shard: i, container: r.container, kind: "whole" });
          continue;
        }
        if (r.delimiter === "/" && r.prefix === undefined) continue;
        expect({ shard: i, listed: r.prefix, owned: r.prefix !== undefined && ownsName(part, r.prefix) }).toEqual({ shard: i, listed: r.prefix, owned: true });
        if (r.account === "source") listedPrefixes.set(r.prefix!, [...(listedPrefixes.get(r.prefix!) ?? []), i]);
      }
      // Each shard listed the split container's top level once per side.
      expect(lists.filter((r) => r.container === BIG && r.delimiter === "/").length).toBeGreaterThanOrEqual(2);
    });
    // Every top-level prefix was listed at the source by exactly one shard.
    expect([...listedPrefixes.keys()].sort()).toEqual(PREFIXES.map((p) => `${p}/`));
    for (const owners of listedPrefixes.values()) expect(owners).toHaveLength(1);
    // Each shard got a share of the split container (rendezvous of 20 prefixes over 3 shards).
    for (let i = 0; i < 3; i++) expect(dataUploads(i).filter((u) => u.container === BIG).length).toBeGreaterThan(0);

    const status = await statusOf(3);
    expect(status.code).toBe(0);
    const merged = JSON.parse(status.stdout);
    expect(merged.shards.map((s: { index: number; state: string }) => [s.index, s.state])).toEqual([[0, "ok"], [1, "ok"], [2, "ok"]]);
    expect(merged.recoveryPoint).toBe([...merged.shards.map((s: { recoveryPoint: string }) => s.recoveryPoint)].sort()[0]);
  });

  test("a second cycle of the 3 shards moves nothing", async () => {
    clearSeen();
    expectOk(await runAll(3));
    figures.add("scenarios");
    for (let i = 0; i < 3; i++) {
      expect(dataUploads(i)).toEqual([]);
      expect(dataDeletes(i)).toEqual([]);
    }
    const verify = await drill.run(["verify", "--config", configFor(0, 3)], { env: envs[0] });
    expect(verify.code).toBe(0);
    for (let i = 0; i < 3; i++) {
      const part = await drill.run(["verify", "--config", configFor(i, 3), "--shard", `${i}/3`, "--json"], { env: envs[i] });
      expect(part.code).toBe(0);
    }
  });

  test("N from 3 to 2 between cycles: target equals source, nothing deleted that the source has, no guard trips, nothing uploaded twice", async () => {
    // One blob added and one deleted at the source meanwhile, in a prefix whose owner changes if any does.
    const moved = PREFIXES.find((p) => ownsName(containerPart({ index: 2, count: 3, split: [BIG] }, BIG), `${p}/`))!;
    expect(moved).toBeDefined();
    await seed(drill.sites.source, BIG, [{ name: `${moved}/added-after-resize`, body: "new" }]);
    await drill.sites.source.container(BIG).deleteBlob(`${moved}/0/v1-0.bin`);
    clearSeen();
    const results = await runAll(2);
    expectOk(results);
    for (const r of results) expect(r.stderr).not.toMatch(/guard\.stopped/);
    figures.add("scenarios");
    await expectSitesEqual(drill);
    const uploads = [0, 1].flatMap(dataUploads).map((u) => `${u.container}/${u.blob}`);
    const deletes = [0, 1].flatMap(dataDeletes).map((u) => `${u.container}/${u.blob}`);
    expect(uploads).toEqual([`${BIG}/${moved}/added-after-resize`]);
    expect(deletes).toEqual([`${BIG}/${moved}/0/v1-0.bin`]);
    const status = await statusOf(2);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).shards).toHaveLength(2);
    // The status of the old N does not pass for the new one: a shard that has not run with N=2 is named.
    const asThree = await statusOf(3);
    expect(asThree.code).toBe(1);
    expect(JSON.parse(asThree.stdout).problems.join("\n")).toMatch(/shard 0\/3: its last record is of shard 0\/2/);
  });

  test("one shard killed mid-run: the other finishes, the merged status names the killed one, the pair's recovery point stays at its last good one", async () => {
    const before = JSON.parse((await statusOf(2)).stdout);
    const rp1 = before.shards[1].recoveryPoint as string;
    expect(rp1).toEqual(expect.any(String));
    for (const c of WHOLE) await seed(drill.sites.source, c, manyBlobs(10, `${c}-late`).map((b) => ({ ...b, blocks: c === MOVING })));
    await seed(drill.sites.source, BIG, bigBlobs("v2", 2));
    clearSeen();
    // Shard 1's uploads hang, so it is certainly mid-push when it is killed.
    proxy.hold((r) => expiries[1].includes(r.sasExpiry ?? "") && r.account === "target" && CONTAINERS.includes(r.container) && r.upload);
    const killed: ChildProcess = drill.spawn(["run", "--config", configFor(1, 2), "--shard", "1/2"], { env: envs[1] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => killed.on("close", (_code, signal) => resolve(signal)));
    const other = runShard(0, 2);
    await waitFor("shard 1's first upload", () => dataUploads(1).length > 0, 120000);
    killed.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    proxy.release();
    expectOk([await other]);
    figures.add("scenarios");

    // Named at once; the status fails once the killed shard's recovery point (or its unfinished run) is older than
    // the objective, as a single killed run's does (the table test in runtime-shards covers that).
    const status = await statusOf(2);
    expect(status.code).toBe(0);
    const merged = JSON.parse(status.stdout);
    expect(merged.notes.join("\n")).toMatch(/shard 1\/2: a run started .* has not finished \(still running, or killed\)/);
    expect(merged.shards[1].record.inProgress).toEqual(expect.objectContaining({ startedAt: expect.any(String) }));
    const text = await drill.run(["status", "--config", configFor(0, 2)], { env: envs[0] });
    expect(text.stdout).toMatch(/shard 1\/2: ok, recovery point .*, last run started .*, not finished/);
    expect(merged.recoveryPoint).toBe(rp1);
    expect(merged.shards[0].recoveryPoint > rp1).toBe(true);

    // Shard 1 runs again: it resumes, and the pair is whole.
    expectOk([await runShard(1, 2)]);
    await expectSitesEqual(drill);
    const after = await statusOf(2);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout).recoveryPoint > rp1).toBe(true);
    figures.add("blobsChecked", 70);
  });

  test("shards keep their state apart: a lock, staging and state folder per shard index", async () => {
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(join(drill.dir, "state")).filter((n) => n.startsWith("shard-")).sort()).toEqual(["shard-0", "shard-1", "shard-2"]);
    expect(readdirSync(join(drill.dir, "staging", "shard-0"))).toContain(siteKey(`${proxy.url}/source/`));
    expect(topLevelKey("tenant-01/x")).toBe("tenant-01");
  });
  test("Azurite's delimiter listing of hostile names, pages of 3: each shard's stream is in the service's order, and the shards' union is the flat listing", async () => {
    const names = [...HOSTILE_NAMES, "/lead", "dir/", "a/b/c", "o-/x", "o-\u{1F600}/y", "o-\uFF01/z"];
    await seed(drill.sites.source, "hostile", names.map((name) => ({ name, body: name })));
    // Through a SAS, as dr-sync lists (Azurite refuses the shared-key signature of a delimiter listing).
    const config = validateConfig(drill.config);
    const cc = new SiteClient(config.source, drill.sites.source.sas("rl"), config).container("hostile");
    const opts = { side: "source", sasEnv: "DR_SOURCE_SAS", missing: "error" as const, pageSize: 3 };
    const flat: string[] = [];
    for await (const b of listBlobs(cc, "hostile", opts)) flat.push(b.name);
    expect(flat).toHaveLength(names.length);
    const union: string[] = [];
    for (let i = 0; i < 3; i++) {
      const part = containerPart({ index: i, count: 3, split: ["hostile"] }, "hostile");
      const got: string[] = [];
      for await (const b of listBlobs(cc, "hostile", { ...opts, part })) got.push(b.name);
      expect(got).toEqual([...got].sort(compareNames));
      expect(got).toEqual(flat.filter((n) => ownsName(part, n)));
      union.push(...got);
    }
    expect(union.sort(compareNames)).toEqual(flat);
    figures.add("blobsChecked", names.length);
  });

  test("failback with 2 shards: the other direction replicates per shard, adopts what is there, and has its own merged status", async () => {
    const back = (i: number): string => {
      const path = join(drill.dir, `back-${i}.json`);
      writeFileSync(path, JSON.stringify({
        ...drill.config,
        source: { blobEndpoint: `${proxy.url}/target/`, sasEnv: "DR_SOURCE_SAS" },
        target: { blobEndpoint: `${proxy.url}/source/`, sasEnv: "DR_TARGET_SAS" },
        shard: { count: 2, split: [BIG] },
      }, null, 2), { mode: 0o600 });
      return path;
    };
    const env = (i: number) => ({ ...envs[i], DR_SOURCE_SAS: drill.sites.target.sas("rl", { expiresInMinutes: 30 * 24 * 60 + 10 * i }),
      DR_TARGET_SAS: drill.sites.source.sas("rwdlac", { expiresInMinutes: 30 * 24 * 60 + 10 * i }) });
    clearSeen();
    const results = await Promise.all([0, 1].map((i) => drill.run(["run", "--config", back(i), "--shard", `${i}/2`], { env: env(i), timeoutMs: 300000 })));
    expectOk(results);
    figures.add("scenarios");
    expect(proxy.seen.filter((r) => r.account === "source" && CONTAINERS.includes(r.container) && (r.upload || (r.method === "DELETE" && r.blob)))).toEqual([]);
    const status = await drill.run(["status", "--json", "--config", back(0)], { env: env(0) });
    expect(status.code).toBe(0);
    const merged = JSON.parse(status.stdout);
    expect(merged.shards.map((s: { record: { direction: string } }) => s.record.direction)).toEqual([expect.stringMatching(/target -> .*source/), expect.stringMatching(/target -> .*source/)]);
  });

  test("the fence: a shard whose target is the active site writes nothing there, not even its run-start record", async () => {
    const record = drill.sites.target.container("dr-sync-status").getBlockBlobClient(`${siteKey(`${proxy.url}/source/`)}/shard-0.json`);
    const before = (await record.getProperties()).etag;
    const fence = renderFence({ role: "active" });
    const fenceBlob = drill.sites.target.container("dr-sync-status").getBlockBlobClient("fence.json");
    await fenceBlob.upload(fence, fence.length);
    try {
      await seed(drill.sites.source, "alpha", [{ name: "while-fenced", body: "x" }]);
      clearSeen();
      const r = await runShard(0, 2);
      expect(r.code).toBe(5);
      expect(seenBy(0).filter((q) => q.account === "target" && q.method !== "GET" && q.method !== "HEAD")).toEqual([]);
      expect((await record.getProperties()).etag).toBe(before);
    } finally {
      await fenceBlob.delete();
    }
    figures.add("scenarios");
  });
  test("N from 2 to 3 with a delete guard of 10%: what moves leaves the old owners' staging without counting as deletions, the new shard adopts, nothing is written twice or deleted", async () => {
    const guarded = (i: number) => {
      const path = configFor(i, 3);
      const c = JSON.parse(readFileSync(path, "utf8"));
      writeFileSync(path, JSON.stringify({ ...c, guards: { maxDeletePercent: 10 } }, null, 2), { mode: 0o600 });
      return path;
    };
    clearSeen();
    const results = await Promise.all([0, 1, 2].map((i) => drill.run(["run", "--config", guarded(i), "--shard", `${i}/3`], { env: envs[i], timeoutMs: 300000 })));
    expectOk(results);
    figures.add("scenarios");
    await expectSitesEqual(drill);
    // Only the blob written while the target was fenced moves; nothing else is uploaded or deleted.
    expect([0, 1, 2].flatMap(dataUploads).map((u) => `${u.container}/${u.blob}`)).toEqual(["alpha/while-fenced"]);
    expect([0, 1, 2].flatMap(dataDeletes)).toEqual([]);
    // The copies shard 0 or 1 gave up are in their retention areas, not deleted.
    const moved = await Promise.all([0, 1].map(async (i) => {
      const r = await drill.run(["retention", "list", "--json", "--config", configFor(i, 3), "--shard", `${i}/3`], { env: envs[i] });
      return (JSON.parse(r.stdout) as { reason: string }[]).filter((c) => c.reason === "moved to another shard").length;
    }));
    expect(moved[0] + moved[1]).toBeGreaterThan(0);
    expect((await statusOf(3)).code).toBe(0);
  });
  test("verify --shard i/N checks one part: a blob missing at the target shows in its owner's part and the whole pair, not in the others'", async () => {
    const owner = [0, 1, 2].find((i) => ownsName(containerPart({ index: i, count: 3, split: [BIG] }, BIG), `${PREFIXES[0]}/`))!;
    const victim = `${PREFIXES[0]}/0/v1-3.bin`;
    await drill.sites.target.container(BIG).deleteBlob(victim);
    const verdicts = await Promise.all([0, 1, 2].map((i) => drill.run(["verify", "--json", "--config", configFor(i, 3), "--shard", `${i}/3`], { env: envs[i] })));
    verdicts.forEach((v, i) => {
      expect({ shard: i, code: v.code }).toEqual({ shard: i, code: i === owner ? 1 : 0 });
      if (i === owner) expect(JSON.parse(v.stdout).differences).toEqual([{ container: BIG, name: victim, problem: "missing at target" }]);
    });
    const whole = await drill.run(["verify", "--json", "--config", configFor(0, 3)], { env: envs[0] });
    expect(whole.code).toBe(1);
    expect(JSON.parse(whole.stdout).differences).toEqual([{ container: BIG, name: victim, problem: "missing at target" }]);
    expectOk([await runShard(owner, 3)]);
    await expectSitesEqual(drill);
    figures.add("scenarios");
  });
});
