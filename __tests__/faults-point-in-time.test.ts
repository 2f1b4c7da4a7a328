import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, SeedBlob, snapshot, startDrill } from "./support/harness";
import { Figures } from "./support/faults";

/**
 * Ransomware-proof DR: the mass-change guard stops a source rewritten with garbage before it reaches staging or the
 * target, and the target keeps every version a push replaces or deletes (its versions container), so a container
 * can be put back to any moment within retention from the DR site alone, with a fresh VM.
 */
const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const container = (s: { containers: { container: string }[] }, c: string) => s.containers.find((x) => x.container === c) as Record<string, any>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const figures = new Figures("faults-point-in-time");
afterAll(() => figures.write());

const docs = (n: number, tag: string): SeedBlob[] => Array.from({ length: n }, (_, i) => ({
  name: `docs/${i}.txt`, body: `${tag} document ${i} `.padEnd(300 + i, "."), contentType: "text/plain", contentLanguage: "en",
  metadata: { owner: `team-${i % 3}`, tag },
}));

async function versionBlobs(drill: Drill): Promise<string[]> {
  const out: string[] = [];
  const cc = drill.sites.target.container("dr-sync-versions");
  if (!(await cc.exists())) return out;
  for await (const b of cc.listBlobsFlat()) out.push(b.name);
  return out.sort();
}

describe("a source rewritten with garbage", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["ledger"]);
    await seed(drill.sites.source, "ledger", docs(20, "good"));
    expect((await drill.run(["run"])).code).toBe(0);
  });
  afterAll(() => drill?.stop());

  test("stops at the mass-change guard (exit 4): staging and target keep the last good copy; plan shows it; --allow-mass-change lets it through", async () => {
    const good = await snapshot(drill.sites.target.container("ledger"));
    // 60% of the blobs: same sizes, random bytes, properties and metadata left as they were.
    for (let i = 0; i < 12; i++) {
      const b = drill.sites.source.container("ledger").getBlockBlobClient(`docs/${i}.txt`);
      const p = await b.getProperties();
      await b.upload(randomBytes(p.contentLength!), p.contentLength!, { blobHTTPHeaders: { blobContentType: p.contentType, blobContentLanguage: p.contentLanguage }, metadata: p.metadata });
    }
    const stopped = await drill.run(["run", "--json"]);
    expect(stopped.code).toBe(4);
    const c = container(json(stopped), "ledger");
    expect(c.outcome).toBe("guard");
    expect(c.error).toMatch(/mass-change guard stopped the pull of container "ledger": 12 overwrite\(s\) would replace the content of 60\.0% of the 20 blob\(s\) in staging, more than guards\.maxOverwritePercent 50%/);
    expect(c.error).toMatch(/--allow-mass-change ledger/);
    expect(await snapshot(drill.sites.target.container("ledger"))).toEqual(good);
    // Twice in a row: the stopped pull left staging as it was, so nothing leaks through on the next cycle either.
    expect((await drill.run(["run"])).code).toBe(4);
    expect(await snapshot(drill.sites.target.container("ledger"))).toEqual(good);
    const plan = await drill.run(["plan"]);
    expect(plan.stdout).toMatch(/run would stop here: mass-change guard stopped the pull of container "ledger"/);
    // Metadata-only changes are not content changes: they pass the guard.
    const ok = await drill.run(["run", "--allow-mass-change", "ledger", "--json"]);
    expect(ok.code).toBe(0);
    expect(container(json(ok), "ledger").push.versionsKept).toBe(12);
    await expectSitesEqual(drill);
    figures.add("scenarios");
  });

  test("metadata changed on every blob is not a mass change", async () => {
    for (let i = 0; i < 20; i++) await drill.sites.source.container("ledger").getBlockBlobClient(`docs/${i}.txt`).setMetadata({ reviewed: "yes" });
    const res = await drill.run(["run", "--json"]);
    expect(res.code).toBe(0);
    expect(container(json(res), "ledger").pull.copied).toBe(20);
    await expectSitesEqual(drill);
  });
});

describe("point-in-time recovery at the DR site", () => {
  let drill: Drill;
  beforeAll(async () => {
    drill = await startDrill(["ledger", "other"]);
  });
  afterAll(() => drill?.stop());

  test("after changes, deletions, additions and a ransomware cycle, a fresh VM restores both sites to the first run's moment", async () => {
    await seed(drill.sites.source, "ledger", docs(10, "v1"));
    await seed(drill.sites.source, "other", [{ name: "keep.txt", body: "untouched" }]);
    expect((await drill.run(["run"])).code).toBe(0);
    const asFirstRun = await snapshot(drill.sites.source.container("ledger"));
    await sleep(1100); // Last-Modified has whole seconds: the moment must fall between writes
    const t1 = new Date().toISOString();
    await sleep(1100);

    // Ordinary cycles: overwrites, a metadata change, deletions, additions.
    await seed(drill.sites.source, "ledger", [...docs(3, "v2"), { name: "docs/new-a.txt", body: "added later" }]);
    await drill.sites.source.container("ledger").getBlockBlobClient("docs/5.txt").setMetadata({ owner: "someone-else" });
    await drill.sites.source.container("ledger").deleteBlob("docs/9.txt");
    expect((await drill.run(["run"])).code).toBe(0);
    await seed(drill.sites.source, "ledger", [{ name: "docs/4.txt", body: "v3 of four" }, { name: "docs/new-b.txt", body: "added even later" }]);
    await drill.sites.source.container("ledger").deleteBlob("docs/8.txt");
    expect((await drill.run(["run"])).code).toBe(0);
    // Ransomware, let through on purpose (or by a guard set too loose).
    for (let i = 0; i < 8; i++) await seed(drill.sites.source, "ledger", [{ name: `docs/${i}.txt`, body: randomBytes(64) }]);
    expect((await drill.run(["run", "--allow-mass-change", "*"])).code).toBe(0);
    const versionsBefore = (await versionBlobs(drill)).length;
    expect(versionsBefore).toBeGreaterThanOrEqual(14);

    // The VM is lost: a new one has the config and the SAS tokens only.
    rmSync(drill.config.stagingDir, { recursive: true, force: true });
    rmSync(drill.config.stateDir, { recursive: true, force: true });

    const garbage = await snapshot(drill.sites.target.container("ledger"));
    const unconfirmed = await drill.run(["restore", "--container", "ledger", "--as-of", t1]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stdout).toMatch(/ledger at target as of .*: \d+ to restore, 2 to remove, \d+ unchanged \(nothing changed yet\)/);
    expect(unconfirmed.stdout).toMatch(/run again with --yes to apply/);
    expect(await snapshot(drill.sites.target.container("ledger"))).toEqual(garbage);

    const dry = json(await drill.run(["restore", "--container", "ledger", "--as-of", t1, "--dry-run", "--json"]));
    expect(dry.applied).toBe(false);
    expect(dry.actions.filter((a: { action: string }) => a.action === "remove").map((a: { name: string }) => a.name).sort()).toEqual(["docs/new-a.txt", "docs/new-b.txt"]);

    const atTarget = await drill.run(["restore", "--container", "ledger", "--as-of", t1, "--yes"]);
    expect({ code: atTarget.code, out: atTarget.code === 0 ? "" : atTarget.stdout + atTarget.stderr }).toEqual({ code: 0, out: "" });
    expect(await snapshot(drill.sites.target.container("ledger"))).toEqual(asFirstRun);

    // Writing to the source needs a SAS that may write there, for that one command; a read-only one is refused up front.
    const readOnly = await drill.run(["restore", "--container", "ledger", "--as-of", t1, "--to", "source", "--yes"]);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toMatch(/restore --to source writes to the source: the SAS in DR_SOURCE_SAS lacks write \(w\)/);
    const writer = { env: { ...drill.env, DR_SOURCE_SAS: drill.sites.source.sas("rwdlac") } };
    const atSource = await drill.run(["restore", "--container", "ledger", "--as-of", t1, "--to", "source", "--yes"], writer);
    expect({ code: atSource.code, out: atSource.code === 0 ? "" : atSource.stdout + atSource.stderr }).toEqual({ code: 0, out: "" });
    expect(await snapshot(drill.sites.source.container("ledger"))).toEqual(asFirstRun);
    // Each restore planned on a scratch index of its own on the staging disk, and removed it.
    expect(readdirSync(join(drill.config.stagingDir, ".restore-tmp"))).toEqual([]);
    expect((await drill.run(["verify"])).code).toBe(0);
    expect(await snapshot(drill.sites.target.container("other"))).toEqual({ "keep.txt": expect.objectContaining({ size: 9 }) });

    // What the restore replaced or removed at the target is itself kept, and listed.
    const kept = json(await drill.run(["retention", "list", "--json", "--container", "ledger"])) as { site: string; reason: string }[];
    expect(kept.filter((k) => k.reason === "removed by a restore")).toHaveLength(2);
    expect(kept.filter((k) => k.site.startsWith("target versions")).length).toBeGreaterThan(versionsBefore);
    figures.add("scenarios");
    figures.add("blobsChecked", Object.keys(asFirstRun).length * 2);
  });

  test("a quiet cycle keeps no version and copies nothing", async () => {
    expect((await drill.run(["run"])).code).toBe(0);
    const before = await versionBlobs(drill);
    const quiet = await drill.run(["run", "--json"]);
    expect(quiet.code).toBe(0);
    expect(container(json(quiet), "ledger").push.versionsKept).toBe(0);
    expect(await versionBlobs(drill)).toEqual(before);
  });

  test("a moment outside retention or in the future is refused, and nothing changes", async () => {
    const before = await snapshot(drill.sites.target.container("ledger"));
    const old = await drill.run(["restore", "--container", "ledger", "--as-of", new Date(Date.now() - 8 * 86400e3).toISOString(), "--yes"]);
    expect(old.code).toBe(2);
    expect(old.stderr).toMatch(/older than retentionDays \(7\)/);
    const future = await drill.run(["restore", "--container", "ledger", "--as-of", new Date(Date.now() + 3600e3).toISOString(), "--yes"]);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/is in the future/);
    expect((await drill.run(["restore", "--container", "ledger", "--as-of", "yesterday"])).stderr).toMatch(/--as-of must be an ISO 8601 instant/);
    expect(await snapshot(drill.sites.target.container("ledger"))).toEqual(before);
  });

  test("index lines dr-sync did not write (not JSON, no name, a name no blob can have, a version gone) are passed over", async () => {
    const versions = drill.sites.target.container("dr-sync-versions");
    const today = new Date().toISOString().slice(0, 10);
    const present = (await versionBlobs(drill)).find((n) => n.startsWith("v/ledger/"))!;
    const lines = ["not json", "{}", JSON.stringify({ name: "", version: present, writtenAt: "2000-01-01T00:00:00Z", keptAt: "2000-01-01T00:00:01Z", reason: "deleted by a push" }),
      JSON.stringify({ name: "docs/\ud800", version: present, writtenAt: "2000-01-01T00:00:00Z", keptAt: "2000-01-01T00:00:01Z", reason: "overwritten by a push" }),
      JSON.stringify({ name: "docs/ghost.txt", version: `v/ledger/${today}/0-gone`, writtenAt: "2000-01-01T00:00:00Z", keptAt: "2000-01-01T00:00:01Z", reason: "overwritten by a push" })];
    const junk = versions.getBlockBlobClient(`i/ledger/${today}/foreign-0.jsonl`);
    await junk.upload(lines.join("\n") + "\n", Buffer.byteLength(lines.join("\n") + "\n"));
    try {
      const plan = await drill.run(["restore", "--container", "ledger", "--as-of", new Date(Date.now() - 1000).toISOString(), "--dry-run", "--json"]);
      expect({ code: plan.code, stderr: plan.code === 0 ? "" : plan.stderr }).toEqual({ code: 0, stderr: "" });
      const names = (json(plan).actions as { name: string }[]).map((a) => a.name);
      expect(names.filter((n) => n === "" || n.startsWith("docs/\ud800") || n === "docs/ghost.txt")).toEqual([]);
    } finally {
      await junk.delete();
    }
  });

  test("versions older than retentionDays are purged by the service's clock, and nothing else", async () => {
    const versions = drill.sites.target.container("dr-sync-versions");
    const old = ["v/ledger/2000-01-01/1-x", "i/ledger/2000-01-01/run-0.jsonl", "v/other/2000-01-01/2-y"];
    for (const n of old) await versions.getBlockBlobClient(n).upload("old", 3);
    const recent = (await versionBlobs(drill)).filter((n) => !old.includes(n));
    rmSync(drill.config.stateDir, { recursive: true, force: true }); // the daily purge has not run on this machine
    const res = await drill.run(["run"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/"versions\.purged"/);
    expect(await versionBlobs(drill)).toEqual(recent);
    expect(Object.keys(await snapshot(drill.sites.target.container("ledger"))).length).toBeGreaterThan(0);
  });
});

describe("names the target cannot hold", () => {
  test("on a Stack Hub target, a longer name is refused by name before any transfer, the rest replicates, nothing is deleted", async () => {
    const drill = await startDrill(["long"]);
    try {
      drill.writeConfig({ containers: ["long"], target: { blobEndpoint: drill.sites.target.blobEndpoint, sasEnv: "DR_TARGET_SAS", cloud: "azure-stack-hub" } });
      const long = `deep/${"n".repeat(895)}`;
      await seed(drill.sites.source, "long", [{ name: "short.txt", body: "fine" }, { name: long, body: "too long for the hub" }]);
      for (let i = 0; i < 2; i++) {
        const res = await drill.run(["run", "--json"]);
        expect(res.code).toBe(0);
        const c = container(json(res), "long");
        expect(c.exceptions).toEqual([{ name: long, error: "the name is 900 characters, and the target (azure-stack-hub) holds names of at most 880 characters (1760 bytes)" }]);
        expect(c.push.deleted).toBe(0);
        expect(res.stderr).toMatch(/"blob\.refused"/);
      }
      expect(Object.keys(await snapshot(drill.sites.target.container("long")))).toEqual(["short.txt"]);
      const v = json(await drill.run(["verify", "--json"]));
      expect(v.differences).toEqual([{ container: "long", name: long, problem: expect.stringMatching(/^cannot be replicated: the name is 900 characters/) }]);
      expect((await drill.run(["status"])).stdout).toMatch(/covers every blob but 1/);
      figures.add("scenarios");
    } finally {
      await drill.stop();
    }
  });
});
