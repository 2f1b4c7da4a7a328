import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, SeedBlob, snapshot, startDrill, walk } from "./support/harness";
import { RunStatus } from "../runtime/src/state/status";
import { stagedFiles } from "./support/staged-index";
import { eventsOf, Figures, mulberry32, runKilledAfter, sha256, stagingProblems, targetChangesOfAStoppedRun } from "./support/faults";

// The seed decides every kill delay and every change to the source; a failure replays with the same seed.
const SEED = Number(process.env.DRSYNC_KILL_SEED ?? 20250611);
const WANTED_KILLS = 24;
const MAX_ROUNDS = 40;
const CONTAINERS = ["alpha", "beta"];
const MiB = 1024 * 1024;

/**
 * SIGKILL the runtime at seeded moments while it pulls and pushes a few hundred small blobs and two multi-MiB
 * blobs moved in 1 MiB ranges and blocks, change the source between kills, and check after every kill that
 * nothing was damaged, and after every few that a clean run converges.
 */
describe("kill at random points", () => {
  let drill: Drill;
  const figures = new Figures("faults-kill");
  /** Every content each blob name ever had at the source, by SHA-256: the only legal contents anywhere. */
  const versions = new Map<string, Set<string>>();
  const live = new Map<string, string[]>(CONTAINERS.map((c) => [c, []]));
  /** The source's current content of each name, by SHA-256. */
  const current = new Map<string, string>();

  beforeAll(async () => {
    drill = await startDrill(CONTAINERS, {
      transferConcurrency: 2, blockConcurrency: 2, blockSizeMiB: 1, singleShotMaxMiB: 1,
      retry: { maxTries: 3, retryDelayMs: 100, maxRetryDelayMs: 1000, tryTimeoutSeconds: 30 },
      // Killed runs let changes pile up for the next push, which the mass-change guard would rightly stop; this file
      // is about crashes, faults-point-in-time.test.ts about the guard.
      guards: { maxOverwritePercent: 100 },
    });
  });
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  const put = async (container: string, blobs: SeedBlob[]) => {
    for (const b of blobs) {
      if (!versions.has(b.name)) versions.set(b.name, new Set());
      versions.get(b.name)!.add(sha256(b.body));
      current.set(b.name, sha256(b.body));
      if (!live.get(container)!.includes(b.name)) live.get(container)!.push(b.name);
    }
    await seed(drill.sites.source, container, blobs);
  };
  const small = (name: string, rand: () => number) => ({ name, body: randomBytes(16 + Math.floor(rand() * 2000)), contentType: "application/octet-stream", metadata: { gen: String(Math.floor(rand() * 1e6)) } });

  /** SHA-256 of each target blob version read so far, by ETag: a version's bytes never change, so each is read once. */
  const shaByEtag = new Map<string, string>();
  async function targetHashes(c: string): Promise<Record<string, string>> {
    const cc = drill.sites.target.container(c);
    const out: Record<string, string> = {};
    if (!(await cc.exists())) return out;
    for await (const item of cc.listBlobsFlat()) {
      const key = `${c}/${item.name}/${item.properties.etag}`;
      if (!shaByEtag.has(key)) {
        const body = item.properties.contentLength ? await cc.getBlobClient(item.name).downloadToBuffer() : Buffer.alloc(0);
        shaByEtag.set(key, sha256(body));
      }
      out[item.name] = shaByEtag.get(key)!;
    }
    return out;
  }

  /** Target contents must each be a version the source really had: a kill must never leave a torn or mixed blob. */
  async function targetProblems(before: Map<string, string[]>): Promise<string[]> {
    const problems: string[] = [];
    for (const c of CONTAINERS) {
      const snap = await targetHashes(c);
      figures.add("blobsChecked", Object.keys(snap).length);
      for (const [name, sha] of Object.entries(snap)) {
        if (!versions.get(name)?.has(sha)) problems.push(`${c}/${name}: target holds content the source never had`);
      }
      for (const name of before.get(c) ?? []) {
        if (live.get(c)!.includes(name) && !snap[name]) problems.push(`${c}/${name}: lost at the target (the source still has it)`);
      }
    }
    return problems;
  }

  test(`SIGKILL at ${WANTED_KILLS} seeded points across pull and push: no damage, every rerun converges`, async () => {
    const rand = mulberry32(SEED);
    // Initial source: 160 + 40 small blobs and two large ones (one uploaded as blocks without Content-MD5).
    await put("alpha", Array.from({ length: 160 }, (_, i) => small(`docs/${i % 7}/file-${i}.bin`, rand)));
    await put("beta", Array.from({ length: 40 }, (_, i) => small(`beta/file-${i}`, rand)));
    await put("alpha", [{ name: "large/blocks.bin", body: randomBytes(5 * MiB + 12345), blocks: true }, { name: "large/single.bin", body: randomBytes(3 * MiB + 7) }]);

    let runMs = 4000; // First guess; replaced by each clean run's duration.
    let kills = 0;
    const phases: Record<string, number> = {};
    for (let round = 0; round < MAX_ROUNDS && kills < WANTED_KILLS; round++) {
      if (round > 0) {
        // Change the source between kills: one large blob rewritten, some small ones rewritten, added and deleted.
        const large = round % 2 ? "large/blocks.bin" : "large/single.bin";
        await put("alpha", [{ name: large, body: randomBytes(3 * MiB + Math.floor(rand() * 2 * MiB)), blocks: round % 2 === 1 }]);
        const names = live.get("alpha")!.filter((n) => n.startsWith("docs/"));
        // Distinct names: the seeder uploads in parallel, so a name given twice would leave either body at the source.
        const picked = [...new Set(Array.from({ length: 20 }, () => names[Math.floor(rand() * names.length)]))];
        await put("alpha", picked.map((n) => small(n, rand)));
        await put("beta", Array.from({ length: 4 }, (_, i) => small(`beta/new-${round}-${i}`, rand)));
        for (let i = 0; i < 3; i++) {
          const victim = names[Math.floor(rand() * names.length)];
          if (!live.get("alpha")!.includes(victim)) continue;
          await drill.sites.source.container("alpha").deleteBlob(victim);
          live.set("alpha", live.get("alpha")!.filter((n) => n !== victim));
        }
      }
      const before = new Map(await Promise.all(CONTAINERS.map(async (c) => [c, Object.keys(await targetHashes(c))] as [string, string[]])));
      const delay = Math.round(150 + rand() * Math.max(200, runMs - 150));
      const t0 = Date.now();
      const killed = await runKilledAfter(drill, ["run", "--log-level", "debug"], delay);
      const phase = killed.killed ? phaseAt(killed.stderr) : "finished first";
      phases[phase] = (phases[phase] ?? 0) + 1;
      if (killed.killed) kills++;
      else expect({ round, code: killed.code, stderr: killed.code ? killed.stderr.slice(-2000) : "" }).toEqual({ round, code: 0, stderr: "" });

      expect({ round, delay, phase, problems: stagingProblems(drill.config.stagingDir, versions) }).toEqual({ round, delay, phase, problems: [] });
      expect({ round, delay, phase, problems: await targetProblems(before) }).toEqual({ round, delay, phase, problems: [] });

      const t1 = Date.now();
      if (process.env.DRSYNC_KILL_TRACE) process.stderr.write(`round ${round} delay ${delay} phase ${phase} run ${t1 - t0}ms\n`);
      if (round % 4 === 3) {
        const started = Date.now();
        const clean = await drill.run(["run"]);
        runMs = Date.now() - started;
        if (process.env.DRSYNC_KILL_TRACE) process.stderr.write(`round ${round} clean run ${runMs}ms, checks ${started - t1}ms\n`);
        expect({ round, code: clean.code, stderr: clean.code ? clean.stderr.slice(-3000) : "" }).toEqual({ round, code: 0, stderr: "" });
        for (const c of CONTAINERS) expect({ round, c, blobs: await targetHashes(c) }).toEqual({ round, c, blobs: Object.fromEntries(live.get(c)!.map((n) => [n, current.get(n)])) });
        figures.add("convergenceChecks");
      }
    }

    // The last word: a clean run, then target equals source, byte for byte, and staging holds only whole versions.
    const last = await drill.run(["run"]);
    expect(last.code).toBe(0);
    await expectSitesEqual(drill);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);
    const finalCount = (await Promise.all(CONTAINERS.map(async (c) => Object.keys(await targetHashes(c)).length))).reduce((a, b) => a + b, 0);
    figures.add("blobsChecked", finalCount);
    figures.add("blobsLost", 0);
    figures.add("killPoints", kills);
    for (const [p, n] of Object.entries(phases)) figures.add(`killedIn:${p}`, n);
    figures.add("scenarios", 1);
    expect(kills).toBeGreaterThanOrEqual(20);
    // Kills must have landed in both hops, or the test proves less than it claims.
    expect(Object.keys(phases)).toEqual(expect.arrayContaining(["pull", "push"]));
  }, 300000);
});

/** Which hop the run was in when it died, from the last events it printed. */
function phaseAt(stderr: string): string {
  let phase = "startup";
  for (const e of eventsOf(stderr)) {
    if (e.event === "run.start" || e.event === "blob.pulled") phase = "pull";
    else if (e.event === "blob.pushed" || e.event === "container.created" || e.event === "retained.destination") phase = "push";
    else if (e.event === "hop.end") phase = e.hop === "pull" ? "push" : "pull";
    else if (e.event === "run.end") phase = "status";
  }
  return phase;
}

/**
 * SIGKILL at each of the staging index's commit points (runtime/src/index/kill-point.ts), on a cycle that adds,
 * changes and deletes blobs at the source: after the kill, every committed entry has its bytes and the target
 * lost nothing; the next run sweeps what the kill left, and the target equals the source.
 */
describe("kill at the staging index's commit points", () => {
  let drill: Drill;
  const figures = new Figures("faults-kill-points");
  const versions = new Map<string, Set<string>>();
  const put = async (blobs: SeedBlob[]) => {
    for (const b of blobs) {
      if (!versions.has(b.name)) versions.set(b.name, new Set());
      versions.get(b.name)!.add(sha256(b.body));
    }
    await seed(drill.sites.source, "points", blobs);
  };
  const body = (name: string, gen: number) => ({ name, body: randomBytes(64 + gen), metadata: { gen: String(gen) } });
  /** The target's versions of "points": its version blobs and its index lines. */
  const keptVersions = async () => {
    const cc = drill.sites.target.container("dr-sync-versions");
    const blobs: string[] = [];
    const lines: string[] = [];
    if (!(await cc.exists())) return { blobs, lines };
    for await (const b of cc.listBlobsFlat({ prefix: "v/points/" })) blobs.push(b.name);
    for await (const b of cc.listBlobsFlat({ prefix: "i/points/" })) {
      lines.push(...(await cc.getBlobClient(b.name).downloadToBuffer()).toString("utf8").split("\n").filter(Boolean));
    }
    return { blobs, lines };
  };

  beforeAll(async () => {
    // One-row batches would commit at once; the default batch leaves the rows of a cycle uncommitted for a while.
    drill = await startDrill(["points"], { transferConcurrency: 2, guards: { maxOverwritePercent: 100, maxDeletePercent: 100 } });
  }, 60000);
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  // The 4 new blobs are staged during the walk, the 8 changed ones after the guard: the 6th rename replaces a
  // staged version, and the 3rd removal is one of the superseded versions.
  test.each([
    ["after a data file's rename, before its row's batch is committed", "staging.after-data-rename", 6],
    ["after the batch commit, before the superseded data file is removed", "staging.after-commit-before-removal", 3],
    // The 4 new blobs go to the target while the pull goes on (push-ahead.ts): the 2nd lands with no push record.
    ["after a new blob pushed ahead of the push is written, before its push record", "push.ahead.after-upload", 2],
    // The 8 changed and 4 deleted blobs' target versions are copied while the pull goes on (versions-ahead.ts).
    ["after a target version is copied ahead of the push, before the push records it", "versions.ahead.after-copy", 3],
  ])("killed %s: nothing lost, nothing deleted at the target, and the next run converges", async (_when, point, nth) => {
    const gen = versions.size;
    const names = Array.from({ length: 24 }, (_, i) => `p/${i}`);
    await put(names.map((n) => body(n, gen)));
    expect((await drill.run(["run"])).code).toBe(0);
    // The cycle under test: 8 changed, 4 added, 4 deleted at the source.
    await put([...names.slice(0, 8).map((n) => body(n, gen + 1)), ...Array.from({ length: 4 }, (_, i) => body(`p/new-${gen}-${i}`, gen))]);
    for (const n of names.slice(20)) await drill.sites.source.container("points").deleteBlob(n);
    const target = await snapshot(drill.sites.target.container("points"));

    const kept = await keptVersions();
    const killed = await drill.run(["run"], { env: { ...drill.env, DR_SYNC_KILL_AT: `${point}:${nth}` } });
    expect({ signal: killed.signal, stderr: killed.signal ? "" : killed.stderr.slice(-2000) }).toEqual({ signal: "SIGKILL", stderr: "" });
    // Copies made ahead are not versions until the push records them: none was recorded, and none is lost later.
    const afterKill = await keptVersions();
    expect(afterKill.lines).toEqual(kept.lines);
    if (point === "versions.ahead.after-copy") expect(afterKill.blobs.length).toBeGreaterThanOrEqual(kept.blobs.length + nth);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);
    // The kill came in the pull: every blob the target had is there as it was, nothing deleted or replaced; what
    // it gained can only be new names pushed ahead, each a version the source had.
    const { problems, gained } = targetChangesOfAStoppedRun(target, await snapshot(drill.sites.target.container("points")), versions);
    expect(problems).toEqual([]);
    expect(gained.filter((n) => !n.startsWith(`p/new-${gen}-`))).toEqual([]);
    if (point === "push.ahead.after-upload") expect(gained.length).toBeGreaterThanOrEqual(nth);
    figures.add("pushedAheadBeforeKill", gained.length);

    const next = await drill.run(["run"]);
    expect({ code: next.code, stderr: next.code ? next.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);
    // Every blob the cycle replaced or deleted at the target has its version recorded, each line's copy there and
    // holding a version the source had.
    const recorded = (await keptVersions()).lines.filter((l) => !kept.lines.includes(l));
    expect(recorded.map((l) => JSON.parse(l).name as string).sort()).toEqual([...names.slice(0, 8), ...names.slice(20)].sort());
    for (const l of recorded) {
      const e = JSON.parse(l) as { name: string; version: string };
      const bytes = await drill.sites.target.container("dr-sync-versions").getBlobClient(e.version).downloadToBuffer();
      expect(versions.get(e.name)?.has(sha256(bytes))).toBe(true);
    }
    // The sweep left one data file per staged entry: nothing the kill orphaned stays behind.
    const dataFiles = walk(join(drill.config.stagingDir)).filter((f) => /\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.[0-9a-f]{16}\.bin$/.test(f));
    expect(dataFiles.length).toBe(stagedFiles(drill.config.stagingDir).length);
    figures.add("killPoints");
    figures.add("blobsChecked", Object.keys(target).length);
    figures.add("blobsLost", 0);
  }, 120000);

  // plan applies the pull's changes to the index in a transaction it never commits (StagingStore.planView).
  test("plan killed after its pull was applied to the index: staging is as it was, and the next run does the whole cycle", async () => {
    const gen = versions.size;
    const names = Array.from({ length: 12 }, (_, i) => `plan/${i}`);
    await put(names.map((n) => body(n, gen)));
    expect((await drill.run(["run"])).code).toBe(0);
    await put([...names.slice(0, 3).map((n) => body(n, gen + 1)), body(`plan/new-${gen}`, gen)]);
    await drill.sites.source.container("points").deleteBlob(names[11]);
    const staged = () => stagedFiles(drill.config.stagingDir).map((f) => `${f.entry.name} ${f.entry.srcEtag} ${f.entry.dataFile}`).sort();
    const before = staged();
    const target = await snapshot(drill.sites.target.container("points"));

    const killed = await drill.run(["plan"], { env: { ...drill.env, DR_SYNC_KILL_AT: "plan.after-pull" } });
    expect({ signal: killed.signal, stderr: killed.signal ? "" : killed.stderr.slice(-2000) }).toEqual({ signal: "SIGKILL", stderr: "" });
    expect(staged()).toEqual(before);
    expect(await snapshot(drill.sites.target.container("points"))).toEqual(target);

    const next = await drill.run(["run", "--json"]);
    expect({ code: next.code, stderr: next.code ? next.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    const pull = (JSON.parse(next.stdout) as RunStatus).containers.find((c) => c.container === "points")!.pull!;
    // Staged as if no plan had run: the 3 changed and the new one staged, the deleted one unstaged.
    expect({ copied: pull.copied, deleted: pull.deleted }).toEqual({ copied: 4, deleted: 1 });
    await expectSitesEqual(drill);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);
    figures.add("planKills");
  }, 120000);
});

describe("kill while a large new blob's blocks go ahead of its download", () => {
  test("killed after the 2nd block reached the target: nothing visible there, and the next run converges", async () => {
    const drill = await startDrill(["large"], { blockSizeMiB: 1, singleShotMaxMiB: 1 });
    try {
      const blobs = [{ name: "big.bin", body: randomBytes(4 * 1024 * 1024 + 5), blocks: true }, { name: "small.txt", body: Buffer.from("small") }];
      const versions = new Map(blobs.map((b) => [b.name, new Set([sha256(b.body)])]));
      await seed(drill.sites.source, "large", blobs);
      const killed = await drill.run(["run"], { env: { ...drill.env, DR_SYNC_KILL_AT: "push.ahead.after-block:2" } });
      expect({ signal: killed.signal, stderr: killed.signal ? "" : killed.stderr.slice(-2000) }).toEqual({ signal: "SIGKILL", stderr: "" });
      // Blocks alone make no blob: a reader of the target sees no big.bin, not a part of one.
      expect(Object.keys(await snapshot(drill.sites.target.container("large")))).not.toContain("big.bin");
      expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);
      const next = await drill.run(["run"]);
      expect({ code: next.code, stderr: next.code ? next.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
      await expectSitesEqual(drill);
    } finally {
      await drill.stop();
    }
  }, 120000);
});
