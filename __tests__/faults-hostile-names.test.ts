import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Drill, SeedBlob, startDrill } from "./support/harness";
import { exactBlob, Figures, seedExact, snapshotExact, walk } from "./support/faults";
import { HOSTILE_NAMES } from "./support/hostile-names";


/**
 * Hostile names and content: nothing escapes stagingDir, no two names share a staged file, every legal name
 * round-trips with its bytes, properties and metadata; metadata at the service's 8 KiB limit and zero-byte
 * blobs too.
 */
describe("hostile names and content", () => {
  let drill: Drill;
  const figures = new Figures("faults-hostile-names");
  const blobs: SeedBlob[] = [
    ...HOSTILE_NAMES.map((name, i) => ({ name, body: `content of #${i} ${JSON.stringify(name)}`, metadata: { index: String(i) } })),
    { name: "zero/one", body: "" },
    { name: "zero/two", body: "", contentType: "application/x-empty", metadata: { empty: "yes" } },
    // Metadata at the limit: names and values together just under 8 KiB.
    { name: "meta/at-limit", body: "m", metadata: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`key${i}`, String.fromCharCode(97 + i).repeat(1024 - 4 - 1)])) },
  ];

  beforeAll(async () => {
    drill = await startDrill(["hostile"]);
    // Staging deep inside the test folder, so a name that climbed out would land where we look.
    drill.writeConfig({ stagingDir: join(drill.dir, "deep", "er", "staging"), stateDir: join(drill.dir, "deep", "state") });
    await seedExact(drill.sites.source, "hostile", blobs);
  });
  const expectEqual = async () => expect(await snapshotExact(drill.sites.target, "hostile")).toEqual(await snapshotExact(drill.sites.source, "hostile"));
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  test("the source really holds every hostile name, as written", async () => {
    const names = Object.keys(await snapshotExact(drill.sites.source, "hostile"));
    // The service stores a backslash as a slash (Azure does the same), so "a\\..\\b" arrives as "a/../b": hostile still.
    expect(names.sort()).toEqual(blobs.map((b) => b.name.replace(/\\/g, "/")).sort());
    const meta = (await snapshotExact(drill.sites.source, "hostile"))["meta/at-limit"].metadata;
    expect(Object.entries(meta).reduce((n, [k, v]) => n + k.length + v.length, 0)).toBeGreaterThan(8100);
  });

  test("a run copies every name, byte for byte, and writes nothing outside stagingDir and stateDir", async () => {
    const outside = () => walk(drill.dir).filter((f) => !f.rel.startsWith("deep/er/staging") && !f.rel.startsWith("deep/state")).map((f) => f.rel).sort();
    const tmpBefore = new Set(readdirSync(tmpdir()));
    const before = outside();
    const res = await drill.run(["run"]);
    figures.add("scenarios");
    expect({ code: res.code, stderr: res.stderr.slice(-3000) }).toEqual({ code: 0, stderr: expect.any(String) });
    await expectEqual();
    figures.add("blobsChecked", blobs.length);
    expect(outside()).toEqual([...before, "deep", "deep/er"].sort());
    // Nothing named after a blob appeared in the shared temp folder either.
    const newInTmp = readdirSync(tmpdir()).filter((n) => !tmpBefore.has(n));
    expect(newInTmp.filter((n) => HOSTILE_NAMES.some((h) => h.split(/[\\/]/).includes(n)))).toEqual([]);
    // No blob name is used as a path: every staged file is named by a hash, or is one of the store's own files.
    const staged = walk(join(drill.dir, "deep", "er", "staging")).map((f) => f.rel.split("/").pop() as string);
    const own = /^([0-9a-f]{64}(\.[0-9a-f]{16}\.bin|\.json|\.\d+\.(bin|json))|[0-9a-f]{2}|objects|index\.db(-wal|-shm)?|pull\.json|\.tmp|hostile|retention|\d{4}-\d{2}-\d{2}|127\.0\.0\.1_\d+_(source|target))$/;
    expect(staged.filter((n) => !own.test(n))).toEqual([]);
  });

  test("verify --deep agrees, and an unchanged rerun copies nothing", async () => {
    const verify = await drill.run(["verify", "--deep"]);
    expect({ code: verify.code, out: verify.stdout.slice(-1500) }).toEqual({ code: 0, out: expect.stringMatching(/verify: target matches source/) });
    const again = await drill.run(["run", "--json"]);
    const status = JSON.parse(again.stdout);
    expect(status.containers[0].pull).toMatchObject({ copied: 0, failed: 0, skipped: blobs.length });
    expect(status.containers[0].push).toMatchObject({ copied: 0, failed: 0 });
    figures.add("scenarios");
  });

  test("a hostile name deleted at the source is kept in retention and restored by its exact name", async () => {
    for (const n of ["../../etc/passwd", "cafe\u0301"]) await exactBlob(drill.sites.source, "hostile", n).delete();
    expect((await drill.run(["run"])).code).toBe(0);
    await expectEqual();
    const list = JSON.parse((await drill.run(["retention", "list", "--blob", "cafe\u0301", "--json"])).stdout);
    // On this machine, and in the target's own versions container, each by its exact name.
    expect(list.map((c: { name: string; reason: string }) => `${c.name}: ${c.reason}`).sort()).toEqual(["cafe\u0301: deleted at source", "cafe\u0301: deleted by a push"]);
    const res = await drill.run(["restore", "--container", "hostile", "--blob", "../../etc/passwd"]);
    expect(res.code).toBe(0);
    const target = await snapshotExact(drill.sites.target, "hostile");
    expect(target["../../etc/passwd"]).toBeDefined();
    expect(target["caf\u00e9"]).toBeDefined();
    expect(target["cafe\u0301"]).toBeUndefined();
    figures.add("scenarios");
    figures.add("restores");
  });
});
