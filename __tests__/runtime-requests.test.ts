import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, startDrill, throughProxy } from "./support/harness";
import { RecordingProxy, SeenRequest, startRecordingProxy } from "./support/recording-proxy";
import { stagedContainerDirs } from "./support/staged-index";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DatabaseSync } = require("node:sqlite") as { DatabaseSync: new (path: string) => { prepare(sql: string): { all(): unknown[] }; close(): void } };

/**
 * What a quiet cycle sends. Its time is the scheduled timer's floor (and so the shortest RPO an operator can
 * set), so every request it adds is a cost on every cycle: this pins the list, and checks that the requests it
 * saves (no container create before each status record) are made again where they are needed.
 */
describe("the requests of a quiet cycle", () => {
  let drill: Drill;
  let proxy: RecordingProxy;
  const C = "quiet";
  const describeRequest = (r: SeenRequest) => `${r.method} ${r.account}/${r.container}${r.blob ? "/<blob>" : ""}${r.list ? " (list)" : ""}`;

  beforeAll(async () => {
    drill = await startDrill([C]);
    proxy = await startRecordingProxy(() => drill.sites.port);
    drill.writeConfig(throughProxy(proxy.url));
    await seed(drill.sites.source, C, Array.from({ length: 5 }, (_, i) => ({ name: `d/${i}.txt`, body: `blob ${i}` })));
    const first = await drill.run(["run"]);
    expect({ code: first.code, stderr: first.code === 0 ? "" : first.stderr }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await drill?.stop();
  });

  const statusBlob = () => drill.sites.target.container("dr-sync-status").getBlockBlobClient(`127.0.0.1_${proxy.port}_source.json`);

  test("fence, miss journal, one listing per side and the status record: nothing else", async () => {
    proxy.seen.length = 0;
    const res = await drill.run(["run"]);
    expect(res.code).toBe(0);
    expect(proxy.seen.map(describeRequest).sort()).toEqual([
      `GET source/dr-sync-status (list)`, // the dual-write miss journal
      `GET source/${C} (list)`,
      `GET target/dr-sync-status (list)`, // the fence, read by a listing of its one name
      `GET target/${C} (list)`,
      `PUT target/dr-sync-status/<blob>`, // the status record, into the container the first run created
    ].sort());
    expect(JSON.parse((await statusBlob().downloadToBuffer()).toString())).toMatchObject({ outcome: "ok", totals: { copied: 0, deleted: 0 } });
    // The target's listing was walked as it streamed, beside the pull: nothing of it was written into the staging
    // index (a spool of it cost ~8 µs and ~690 bytes of writes per blob and cycle).
    const [dir] = stagedContainerDirs(drill.config.stagingDir);
    const db = new DatabaseSync(join(dir, "index.db"));
    try {
      expect(db.prepare("SELECT queue, count(*) AS n FROM queue GROUP BY queue").all()).toEqual([]);
    } finally {
      db.close();
    }
  });

  test("a status container deleted at the target is created again by the next record, which is written", async () => {
    await drill.sites.target.container("dr-sync-status").delete();
    // Azurite, like the service, refuses a container of the same name for a while after its deletion: wait that out.
    for (let i = 0; i < 100; i++) {
      const probe = await drill.sites.target.container("dr-sync-status").exists();
      if (!probe) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    proxy.seen.length = 0;
    const res = await drill.run(["run"]);
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr }).toEqual({ code: 0, stderr: "" });
    const writes = proxy.seen.filter((r) => r.method === "PUT" && r.account === "target" && r.container === "dr-sync-status").map(describeRequest);
    // The record is tried, its container is found missing and created, and the record is written.
    expect(writes).toEqual(["PUT target/dr-sync-status/<blob>", "PUT target/dr-sync-status", "PUT target/dr-sync-status/<blob>"]);
    expect(JSON.parse((await statusBlob().downloadToBuffer()).toString())).toMatchObject({ outcome: "ok" });
  });

  test("a run never loads Node.js's fetch implementation (undici): the SDK's form-data policy is removed (unused-policies.ts)", async () => {
    // Reading the global FormData loads undici: 35-75 ms before the first request of every run, for nothing we send.
    const preload = join(drill.dir, "modules-at-exit.js");
    const list = join(drill.dir, "modules.txt");
    writeFileSync(preload, `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));`);
    await drill.sites.source.container(C).getBlockBlobClient("d/new.txt").upload("new", 3);
    const res = await drill.run(["run"], { env: { ...drill.env, NODE_OPTIONS: `--require ${preload}` } });
    expect(res.code).toBe(0);
    const loaded = readFileSync(list, "utf8").split("\n");
    // The preload ran and saw the modules a run loads (the HTTP client among them), and the fetch implementation is not one.
    expect(loaded).toContain("NativeModule http");
    expect(loaded.filter((m) => /undici/.test(m))).toEqual([]);
  });
});

