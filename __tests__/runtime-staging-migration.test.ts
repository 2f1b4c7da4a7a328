import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagingIndex } from "../runtime/src/index/staging-index";
import { PushRecord, StagedEntry } from "../runtime/src/model/blob";
import { siteKey } from "../runtime/src/staging/object-path";
import { RetentionArea } from "../runtime/src/staging/retention";
import { HOSTILE_NAMES } from "./support/hostile-names";
import { LegacyPushRecords, LegacyStagingStore } from "./support/legacy-staging";
import { Drill, expectSitesEqual, manyBlobs, seed, snapshot, startDrill, walk } from "./support/harness";
import { stagedContainerDirs } from "./support/staged-index";

/**
 * Staging folders made by the version before the index (manifests, index.jsonl, pushed-<target>.jsonl) are
 * migrated on first open: the test builds such a folder with that version's own writers
 * (support/legacy-staging.ts), from a real replicated container, then opens it with the built runtime.
 */
const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const CONTAINER = "mig";
const NAMES = HOSTILE_NAMES.slice(0, 20);

interface Snapshot {
  readonly entries: StagedEntry[];
  readonly records: [string, PushRecord][];
  readonly target: string;
}

function readIndex(dir: string, target: string): Snapshot {
  const index = StagingIndex.open(join(dir, "index.db"));
  try {
    return { entries: [...index.entries()], records: [...index.pushRecords(target)], target };
  } finally {
    index.close();
  }
}

/**
 * Turns a migrated container folder back into the previous version's format with that version's writers: each
 * entry committed through its StagingStore (manifest + data file + index.jsonl), the records through its
 * PushRecords (a compacted snapshot, then appended lines and a torn last line, as a killed run leaves them).
 */
async function makeLegacy(dir: string, snap: Snapshot): Promise<void> {
  for (const f of ["index.db", "index.db-wal", "index.db-shm", "dirty"]) rmSync(join(dir, f), { force: true });
  renameSync(join(dir, "objects"), join(dir, "objects.aside"));
  const staging = join(dir, "..", "..");
  const site = join(dir, "..").split("/").pop() as string;
  const legacy = await LegacyStagingStore.open(staging, site, CONTAINER, new RetentionArea(staging));
  for (const e of snap.entries) {
    const tmp = legacy.tmpPath();
    copyFileSync(join(dir, "objects.aside", e.dataFile.slice(0, 2), e.dataFile), tmp);
    const { dataFile: _d, ...rest } = e;
    await legacy.commit(rest, tmp);
  }
  await legacy.save();
  rmSync(join(dir, "objects.aside"), { recursive: true, force: true });
  const records = await LegacyPushRecords.open(dir, snap.target);
  const half = Math.floor(snap.records.length / 2);
  for (const [n, r] of snap.records.slice(0, half)) records.set(n, r);
  await records.compact(() => true);
  for (const [n, r] of snap.records.slice(half)) records.set(n, r);
  await records.close();
  writeFileSync(join(dir, `pushed-${snap.target}.jsonl`), '{"n":"torn', { flag: "a" });
}

describe("a staging folder of the version before the index", () => {
  let drill: Drill;
  let dir: string;
  let original: Snapshot;
  let targetKey: string;

  beforeAll(async () => {
    drill = await startDrill([CONTAINER]);
    await seed(drill.sites.source, CONTAINER, [...manyBlobs(30, "m", 300), ...NAMES.map((name, i) => ({ name, body: `hostile ${i}` }))]);
    const first = await drill.run(["run"]);
    expect({ code: first.code, stderr: first.code ? first.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    dir = stagedContainerDirs(drill.config.stagingDir)[0];
    targetKey = siteKey(drill.config.target.blobEndpoint);
    original = readIndex(dir, targetKey);
    expect(original.entries).toHaveLength(30 + NAMES.length);
    expect(original.records).toHaveLength(30 + NAMES.length);
  }, 120000);
  afterAll(async () => drill?.stop());

  const legacyFiles = () => walk(dir).filter((f) => /\/(index\.jsonl|pushed-.*\.jsonl|objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.json)$/.test(f));

  test("is migrated on first open: every entry and push record kept, the old files removed, and a push moves and deletes nothing", async () => {
    await makeLegacy(dir, original);
    expect(legacyFiles().length).toBe(original.entries.length + 2);
    const target = await snapshot(drill.sites.target.container(CONTAINER));
    const r = await drill.run(["push", "--json"]);
    expect({ code: r.code, stderr: r.code ? r.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    expect(json(r).containers[0].push).toMatchObject({ copied: 0, deleted: 0, adopted: 0, failed: 0 });
    expect(readIndex(dir, targetKey)).toEqual(original);
    expect(legacyFiles()).toEqual([]);
    expect(await snapshot(drill.sites.target.container(CONTAINER))).toEqual(target);
    const again = await drill.run(["run", "--json"]);
    expect(json(again).containers[0]).toMatchObject({ outcome: "ok", pull: expect.objectContaining({ copied: 0, deleted: 0 }), push: expect.objectContaining({ copied: 0, deleted: 0 }) });
  }, 120000);

  test.each([
    ["after the new index is committed, before its rename", "migration.after-tmp-commit", false],
    ["after the rename, before the old files are removed", "migration.after-rename", true],
  ])("a kill during the migration (%s) leaves a folder the next run uses: nothing copied, nothing deleted", async (_when, point, indexInPlace) => {
    await makeLegacy(dir, original);
    const target = await snapshot(drill.sites.target.container(CONTAINER));
    const killed = await drill.run(["run"], { env: { ...drill.env, DR_SYNC_KILL_AT: point } });
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(dir, "index.db"))).toBe(indexInPlace);
    expect(legacyFiles().length).toBe(original.entries.length + 2);
    const r = await drill.run(["run", "--json"]);
    expect({ code: r.code, stderr: r.code ? r.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    expect(json(r).containers[0]).toMatchObject({ pull: expect.objectContaining({ copied: 0, deleted: 0 }), push: expect.objectContaining({ copied: 0, deleted: 0, adopted: 0 }) });
    expect(readIndex(dir, targetKey).entries).toEqual(original.entries);
    expect(legacyFiles()).toEqual([]);
    expect(existsSync(join(dir, "index.db.tmp"))).toBe(false);
    expect(await snapshot(drill.sites.target.container(CONTAINER))).toEqual(target);
    await expectSitesEqual(drill);
  }, 120000);

  test("a manifest whose bytes are gone is dropped, and the pull mark with it: a push deletes nothing for it at the target", async () => {
    // Found in review: the migration dropped the entry but kept the container's pull mark, so the next push took
    // the blob for one deleted at the source and deleted it at the target.
    await makeLegacy(dir, original);
    const manifest = legacyFiles().find((f) => f.endsWith(".json"))!;
    const key = manifest.split("/").pop()!.slice(0, -".json".length);
    const data = readdirSync(join(manifest, "..")).filter((f) => f.startsWith(`${key}.`) && f.endsWith(".bin"));
    expect(data).toHaveLength(1);
    rmSync(join(manifest, "..", data[0]));
    const target = await snapshot(drill.sites.target.container(CONTAINER));
    const r = await drill.run(["push", "--json"]);
    expect(json(r).containers[0].push).toMatchObject({ deleted: 0 });
    expect(await snapshot(drill.sites.target.container(CONTAINER))).toEqual(target);
    const healed = await drill.run(["run", "--json"]);
    expect({ code: healed.code, stderr: healed.code ? healed.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    expect(json(healed).containers[0].pull).toMatchObject({ copied: 1, deleted: 0 });
    await expectSitesEqual(drill);
  }, 120000);

  test("a manifest that cannot be read is refused, naming the file and how to rebuild; the folder is left as it was", async () => {
    await makeLegacy(dir, original);
    const manifest = legacyFiles().find((f) => f.endsWith(".json"))!;
    writeFileSync(manifest, "{ not json");
    const before = Object.fromEntries(walk(dir).map((f) => [f, readFileSync(f).toString("base64")]));
    const target = await snapshot(drill.sites.target.container(CONTAINER));
    const r = await drill.run(["run", "--json"]);
    expect(r.code).toBe(1);
    const error = json(r).containers[0].error as string;
    expect(error).toContain(manifest);
    expect(error).toMatch(/move .* aside and run `dr-sync pull`/);
    expect(Object.fromEntries(walk(dir).map((f) => [f, readFileSync(f).toString("base64")]))).toEqual(before);
    expect(await snapshot(drill.sites.target.container(CONTAINER))).toEqual(target);
    // Rebuilt as the message says: moved aside, pulled again, and the push finds the target as it should be.
    renameSync(dir, `${dir}.aside`);
    const rebuilt = await drill.run(["run", "--json"]);
    expect(json(rebuilt).containers[0]).toMatchObject({ outcome: "ok", push: expect.objectContaining({ copied: 0, deleted: 0 }) });
    rmSync(`${dir}.aside`, { recursive: true, force: true });
    await expectSitesEqual(drill);
    original = readIndex(dir, targetKey);
  }, 120000);

  test.each([
    ["bytes that are not SQLite", Buffer.from("this is not a database, and must stay exactly as it is\n".repeat(20))],
    ["a SQLite database of someone else's", foreignDatabase()],
  ])("an index.db that is %s is refused and left untouched; the target is not touched", async (_what, bytes) => {
    const path = join(dir, "index.db");
    const saved = readFileSync(path);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    writeFileSync(path, bytes);
    const target = await snapshot(drill.sites.target.container(CONTAINER));
    const r = await drill.run(["run", "--json"]);
    expect(r.code).toBe(1);
    expect(json(r).containers[0].error).toContain(path);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(await snapshot(drill.sites.target.container(CONTAINER))).toEqual(target);
    writeFileSync(path, saved);
  }, 120000);
  test("a manifest whose bytes are gone, its blob then changed at the source: the target's version is kept before it is replaced", async () => {
    // Last in this file: it changes the source. Found in review: its push record survived the migration, so the push took the target's copy for one it had
    // written and replaced it without keeping it: the last copy of that version.
    await makeLegacy(dir, original);
    const manifest = legacyFiles().find((f) => f.endsWith(".json"))!;
    const { name, dataFile } = JSON.parse(readFileSync(manifest, "utf8")) as { name: string; dataFile: string };
    rmSync(join(manifest, "..", dataFile));
    const before = (await drill.sites.target.container(CONTAINER).getBlockBlobClient(name).downloadToBuffer()).toString("base64");
    await seed(drill.sites.source, CONTAINER, [{ name, body: "changed at the source before the healing run" }]);
    const r = await drill.run(["run", "--json"]);
    expect({ code: r.code, stderr: r.code ? r.stderr.slice(-2000) : "" }).toEqual({ code: 0, stderr: "" });
    const keptFromTarget = (JSON.parse((await drill.run(["retention", "list", "--json", "--container", CONTAINER, "--blob", name])).stdout) as { site: string; dataPath: string }[])
      .filter((k) => k.site === targetKey).map((k) => readFileSync(k.dataPath).toString("base64"));
    expect(keptFromTarget).toEqual([before]);
    await expectSitesEqual(drill);
  }, 120000);
});

/** The bytes of a valid SQLite file that is not a dr-sync index. */
function foreignDatabase(): Buffer {
  const file = join(tmpdir(), `foreign-${process.pid}-${Date.now()}.db`);
  const { DatabaseSync } = require("node:sqlite") as { DatabaseSync: new (p: string) => { exec(s: string): void; close(): void } };
  const db = new DatabaseSync(file);
  db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (12.5);");
  db.close();
  const bytes = readFileSync(file);
  rmSync(file, { force: true });
  return bytes;
}
