import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderFence } from "../runtime/src/state/fence";
import { Drill, expectSitesEqual, manyBlobs, seed, snapshot, startDrill, walk } from "./support/harness";
import { stagedFile, stagedFiles } from "./support/staged-index";

const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const byName = (s: { containers: { container: string }[] }, c: string) => s.containers.find((x) => x.container === c) as Record<string, any>;

describe("deletes", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["images", "invoices"]);
    await seed(drill.sites.source, "images", manyBlobs(20, "img"));
    await seed(drill.sites.source, "invoices", manyBlobs(4, "inv"));
    expect((await drill.run(["run"])).code).toBe(0);
  });
  afterAll(() => drill.stop());

  test("blobs removed at the source are removed from staging, then from the target, and kept in retention", async () => {
    const cc = drill.sites.source.container("images");
    await cc.deleteBlob("img/0/item-0.json");
    await cc.deleteBlob("img/1/item-1.json");
    const s = json(await drill.run(["run", "--json"]));
    expect(byName(s, "images").pull.deleted).toBe(2);
    expect(byName(s, "images").push.deleted).toBe(2);
    await expectSitesEqual(drill);
    const kept = json(await drill.run(["retention", "list", "--json", "--container", "images"])) as { name: string; reason: string; site: string }[];
    // Kept twice: the staged copy on this machine, and the target's own version in its versions container.
    const here = kept.filter((k) => !k.site.startsWith("target versions"));
    const atTarget = kept.filter((k) => k.site.startsWith("target versions"));
    expect(here.map((k) => `${k.name}: ${k.reason}`).sort()).toEqual(["img/0/item-0.json: deleted at source", "img/1/item-1.json: deleted at source"]);
    expect(atTarget.map((k) => `${k.name}: ${k.reason}`).sort()).toEqual(["img/0/item-0.json: deleted by a push", "img/1/item-1.json: deleted by a push"]);
  });

  test("a retained copy can be restored to the target with its properties and metadata, or to a file", async () => {
    const r = await drill.run(["restore", "--container", "images", "--blob", "img/0/item-0.json"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored "img\/0\/item-0\.json" .* to images at target \(127/);
    const t = await snapshot(drill.sites.target.container("images"));
    expect(t["img/0/item-0.json"]).toMatchObject({ contentType: "application/json", metadata: { index: "0", origin: "seed" } });
    const out = join(drill.dir, "restored.json");
    expect((await drill.run(["restore", "--container", "images", "--blob", "img/1/item-1.json", "--out", out])).code).toBe(0);
    expect(readFileSync(out, "utf8")).toMatch(/^img-1-/);
    // The next run makes the target a mirror again (the restore to the target was a stop-gap).
    expect((await drill.run(["run"])).code).toBe(0);
    await expectSitesEqual(drill);
  });

  test("the delete guard stops a mass deletion before anything is deleted, and says how to proceed", async () => {
    const cc = drill.sites.source.container("images");
    const names = Object.keys(await snapshot(cc));
    for (const n of names.slice(0, 12)) await cc.deleteBlob(n);
    const before = await snapshot(drill.sites.target.container("images"));
    const r = await drill.run(["run", "--json"]);
    expect(r.code).toBe(4);
    const c = byName(json(r), "images");
    expect(c.outcome).toBe("guard");
    expect(c.error).toMatch(/12 deletion\(s\) would remove 66\.7% of the 18 blob\(s\) in staging, more than guards\.maxDeletePercent 50%/);
    expect(c.error).toMatch(/--allow-mass-delete images/);
    expect(byName(json(r), "invoices").outcome).toBe("ok");
    expect(await snapshot(drill.sites.target.container("images"))).toEqual(before);
    const plan = await drill.run(["plan"]);
    expect(plan.stdout).toMatch(/images: pull 0 copy, 12 delete/);
    expect(plan.stdout).toMatch(/run would stop here: delete guard stopped the pull of container "images"/);
    expect(plan.stdout).toMatch(/pull delete "img\/\d\/item-\d+\.json": not in source/);
    // Deliberately, once:
    const ok = await drill.run(["run", "--allow-mass-delete", "images", "--json"]);
    expect(ok.code).toBe(0);
    await expectSitesEqual(drill);
  });

  test("with deleteDestination false, nothing is deleted at the target", async () => {
    drill.writeConfig({ containers: ["images", "invoices"], deleteDestination: false });
    await drill.sites.source.container("invoices").deleteBlob("inv/0/item-0.json");
    const s = json(await drill.run(["run", "--json"]));
    expect(byName(s, "invoices").push.deleted).toBe(0);
    expect(Object.keys(await snapshot(drill.sites.target.container("invoices")))).toContain("inv/0/item-0.json");
    drill.writeConfig({ containers: ["images", "invoices"] });
  });
});

describe("a source that cannot be read is an error, never an empty listing", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["images"]);
    await seed(drill.sites.source, "images", manyBlobs(5));
    expect((await drill.run(["run"])).code).toBe(0);
  });
  afterAll(() => drill.stop());

  test("a missing source container deletes nothing", async () => {
    await drill.sites.source.container("images").delete();
    const before = await snapshot(drill.sites.target.container("images"));
    const r = await drill.run(["run"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/source .* container "images" not found; nothing was copied or deleted for it/);
    expect(await snapshot(drill.sites.target.container("images"))).toEqual(before);
  });

  test("a forbidden source (a SAS of another account) deletes nothing and names the side and variable", async () => {
    await seed(drill.sites.source, "images", manyBlobs(5));
    const before = await snapshot(drill.sites.target.container("images"));
    const r = await drill.run(["run"], { env: { ...drill.env, DR_SOURCE_SAS: drill.sites.target.sas("rl") } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/source .*: the SAS in DR_SOURCE_SAS (is invalid or expired|was refused|is not allowed)/);
    expect(await snapshot(drill.sites.target.container("images"))).toEqual(before);
  });
});

describe("failures hold deletions back", () => {
  test("no deletes at the target in a push in which a transfer failed; a damaged staged copy is refused, not replicated", async () => {
    const drill = await startDrill(["docs"]);
    try {
      await seed(drill.sites.source, "docs", manyBlobs(6));
      expect((await drill.run(["run"])).code).toBe(0);
      const cc = drill.sites.source.container("docs");
      await cc.deleteBlob("set/0/item-0.json");
      await seed(drill.sites.source, "docs", [{ name: "set/1/item-1.json", body: "new version", contentType: "application/json" }]);
      expect((await drill.run(["pull"])).code).toBe(0);
      // The staging disk damages the new version's bytes (same length, other content).
      writeFileSync(stagedFile(join(drill.dir, "staging"), "set/1/item-1.json").dataPath, "NEW VERSION");
      const r = await drill.run(["push", "--json"]);
      expect(r.code).toBe(1);
      const c = byName(json(r), "docs");
      expect(c.push.failures[0]).toMatchObject({ name: "set/1/item-1.json", error: expect.stringMatching(/staged copy is damaged/) });
      expect(c.push.deleted).toBe(0);
      expect(c.push.heldBack).toBe(1);
      const t = await snapshot(drill.sites.target.container("docs"));
      expect(Object.keys(t)).toContain("set/0/item-0.json");
      expect(t["set/1/item-1.json"].size).toBe(64);
      // The next run fetches the damaged blob again and converges.
      expect((await drill.run(["run"])).code).toBe(0);
      await expectSitesEqual(drill);
    } finally {
      await drill.stop();
    }
  });
});

describe("a push without a complete pull behind it", () => {
  test("deletes nothing at the target: an empty staging says nothing about the source", async () => {
    const drill = await startDrill(["logs"]);
    try {
      await seed(drill.sites.target, "logs", manyBlobs(3));
      const before = await snapshot(drill.sites.target.container("logs"));
      const r = await drill.run(["push"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/no complete pull of \\"logs\\" is staged yet; the push copies but deletes nothing/);
      expect(await snapshot(drill.sites.target.container("logs"))).toEqual(before);
    } finally {
      await drill.stop();
    }
  });
});

describe("the fence: never write into the active site", () => {
  test("a destination whose fence says active gets nothing, exit 5; a passive one replicates", async () => {
    const drill = await startDrill(["orders"]);
    try {
      await seed(drill.sites.source, "orders", manyBlobs(4));
      const fence = (role: string) => seed(drill.sites.target, "dr-sync-status", [{ name: "fence.json", body: renderFence({ role: role as "active", environment: "prod" }) }]);
      await fence("active");
      const r = await drill.run(["run", "--json"]);
      expect(r.code).toBe(5);
      expect(json(r).error).toMatch(/the destination target .* is the active site \(dr-sync-status\/fence\.json says role "active", environment "prod"\); replicating into it would overwrite live data, so nothing was written/);
      expect(await snapshot(drill.sites.target.container("orders"))).toEqual({});
      expect(Object.keys(await snapshot(drill.sites.target.container("dr-sync-status")))).toEqual(["fence.json"]);
      expect((await drill.run(["pull"])).code).toBe(0);
      await fence("passive");
      expect((await drill.run(["run"])).code).toBe(0);
      await expectSitesEqual(drill);
    } finally {
      await drill.stop();
    }
  });
});

describe("crash safety and locking", () => {
  /**
   * Starts `run` and SIGKILLs it as its debug log shows the `count`-th `event` (a blob staged, a blob pushed): in the
   * middle of its transfers however fast the machine is. Resolves with how it ended; "close" is awaited from the start.
   */
  const killAfter = (drill: Drill, event: string, count: number) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const child = drill.spawn(["run", "--log-level", "debug"]);
    let seen = 0;
    let rest = "";
    child.stderr!.on("data", (d: Buffer) => {
      const lines = (rest + d.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) if (line.includes(`"event":"${event}"`) && ++seen === count) child.kill("SIGKILL");
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });

  test("a run killed mid-transfer converges on the next run; staging never holds a partial file under a final name", async () => {
    const drill = await startDrill(["bulk"], { transferConcurrency: 4, blockSizeMiB: 1, singleShotMaxMiB: 1, blockConcurrency: 2 });
    try {
      await seed(drill.sites.source, "bulk", [...manyBlobs(300, "s", 2048), { name: "large/a.bin", body: Buffer.alloc(6 * 1048576, 9), blocks: true }]);
      // Killed by what each run has done, not after a fixed time: a run that ended before a timed kill (this
      // machine on a fast minute) killed nothing, and its "close" came before anyone waited for it.
      for (const [event, count] of [["blob.pulled", 10], ["blob.pushed", 1], ["blob.pushed", 40]] as const) {
        const ended = await killAfter(drill, event, count);
        expect({ event, count, ...ended }).toEqual({ event, count, code: null, signal: "SIGKILL" });
        assertStagingWhole(join(drill.dir, "staging"));
      }
      const r = await drill.run(["run", "--json"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/did not finish; its partial work is checked and resumed/);
      await expectSitesEqual(drill);
      expect((await drill.run(["verify"])).code).toBe(0);
    } finally {
      await drill.stop();
    }
  });

  test("a second run started while one is running exits at once with a clear message", async () => {
    const drill = await startDrill(["bulk"], { transferConcurrency: 1 });
    try {
      await seed(drill.sites.source, "bulk", manyBlobs(250));
      const first = drill.spawn(["run"]);
      // Waited for from the start: a "close" that comes before anyone listens is never heard again.
      const firstClosed = new Promise((r) => first.once("close", r));
      let firstErr = "";
      first.stderr!.on("data", (d) => { firstErr += d; });
      await new Promise((r) => setTimeout(r, 400));
      const second = await drill.run(["run"]);
      expect(second.code).toBe(3);
      expect(second.stderr).toMatch(/another dr-sync run \(pid \d+, started .*\) holds .*lock; this run exits without touching anything/);
      const code = await firstClosed;
      expect(code).toBe(0);
      expect(firstErr).not.toMatch(/error/i);
    } finally {
      await drill.stop();
    }
  });
});

describe("observability and secrets", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["images"], { rpoObjectiveMinutes: 60 });
    await seed(drill.sites.source, "images", manyBlobs(10));
  });
  afterAll(() => drill.stop());

  test("off a TTY, every event is one JSON line; the summary is on stdout", async () => {
    const r = await drill.run(["run"]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    const events = lines.map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["run.start", "hop.end", "run.end"]));
    for (const e of events) expect(e).toMatchObject({ time: expect.any(String), level: expect.any(String), msg: expect.any(String) });
    expect(r.stdout).toMatch(/^dr-sync run: OK/);
    expect(r.stdout).toMatch(/recovery point: \d{4}-\d\d-\d\dT/);
  });

  test("status reports the last run, its recovery point and the RPO objective; the target holds a status record", async () => {
    const r = await drill.run(["status", "--json"]);
    expect(r.code).toBe(0);
    const s = json(r);
    expect(s).toMatchObject({ outcome: "ok", rpoObjectiveMinutes: 60, recoveryPoint: expect.any(String), rpoAchievedSeconds: expect.any(Number) });
    expect(Date.parse(s.recoveryPoint)).toBeLessThanOrEqual(Date.parse(s.startedAt) + 2000);
    const human = await drill.run(["status"]);
    expect(human.stdout).toMatch(/current exposure: .* \(objective 60m: met\)/);
    const blob = await drill.sites.target.container("dr-sync-status").getBlockBlobClient("127.0.0.1_" + drill.sites.port + "_source.json").downloadToBuffer();
    expect(JSON.parse(blob.toString())).toMatchObject({ recoveryPoint: s.recoveryPoint, outcome: "ok" });
  });

  test("the SAS never appears in output, state, staging or the status record; files are owner-only", async () => {
    await drill.sites.source.container("images").deleteBlob("set/0/item-0.json");
    const outputs: string[] = [];
    for (const args of [["run"], ["plan"], ["verify"], ["status"], ["run", "--json"], ["retention", "list"]]) {
      const r = await drill.run(args);
      outputs.push(r.stdout, r.stderr);
    }
    const bad = await drill.run(["run"], { env: { ...drill.env, DR_TARGET_SAS: drill.sites.source.sas("rwdlac") } });
    outputs.push(bad.stdout, bad.stderr);
    const secrets = [drill.env.DR_SOURCE_SAS!, drill.env.DR_TARGET_SAS!, drill.sites.source.sas("rwdlac")].map((s) => new URLSearchParams(s).get("sig")!);
    const files = walk(drill.dir).filter((f) => !f.endsWith("dr-sync.json"));
    const statusBlob = (await drill.sites.target.container("dr-sync-status").getBlockBlobClient("127.0.0.1_" + drill.sites.port + "_source.json").downloadToBuffer()).toString();
    for (const sig of secrets) {
      for (const sigForm of [sig, encodeURIComponent(sig)]) {
        for (const o of [...outputs, statusBlob]) expect(o).not.toContain(sigForm);
        for (const f of files) expect(readFileSync(f, "latin1")).not.toContain(sigForm);
      }
    }
    for (const f of files) expect(statSync(f).mode & 0o077).toBe(0);
    expect(statSync(join(drill.dir, "staging")).mode & 0o777).toBe(0o700);
    expect(statSync(join(drill.dir, "state")).mode & 0o777).toBe(0o700);
  });

  test("bad config exits 2 and names the key; nothing is touched", async () => {
    drill.writeConfig({ containers: ["images"], transferConcurrency: "lots" });
    const r = await drill.run(["run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/transferConcurrency must be a whole number from 1 to 256 \(got "lots"\)\nnothing was touched/);
    drill.writeConfig({ containers: ["images"], rpoObjectiveMinutes: 60 });
    const noVar = await drill.run(["run"], { env: { ...drill.env, DR_TARGET_SAS: "" } });
    expect(noVar.code).toBe(2);
    expect(noVar.stderr).toMatch(/target\.sasEnv: environment variable DR_TARGET_SAS is not set/);
  });
});


/** Every committed entry points at a data file of exactly the blob's size. */
function assertStagingWhole(stagingDir: string): void {
  for (const { entry, dataPath } of stagedFiles(stagingDir)) {
    expect({ name: entry.name, size: statSync(dataPath).size }).toEqual({ name: entry.name, size: entry.size });
  }
}
