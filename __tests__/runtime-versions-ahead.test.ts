import { ChildProcess } from "node:child_process";
import { Drill, expectSitesEqual, seed, SeedBlob, snapshot, startDrill } from "./support/harness";
import { RecordingProxy, SeenRequest, startRecordingProxy } from "./support/recording-proxy";
import { waitFor } from "./support/faults";
import { VersionEntry } from "../runtime/src/versions/target-versions";
import { normalizeEtag } from "../runtime/src/model/blob";

/**
 * The target's versions of what a pull replaces or removes are copied while the pull goes on
 * (runtime/src/sync/versions-ahead.ts), and the push after it only records them. Only the source goes through the
 * proxy here, which holds one of its reads open to show it: a copy within the target cannot pass a proxy (see
 * throughProxy), and needs none.
 */
describe("keeping the target's versions ahead of the push", () => {
  let drill: Drill;
  let proxy: RecordingProxy;
  const VERSIONS = "dr-sync-versions";

  beforeAll(async () => {
    drill = await startDrill(["ahead"], { transferConcurrency: 4 });
    proxy = await startRecordingProxy(() => drill.sites.port);
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await drill?.stop();
  });

  const exited = (child: ChildProcess) => new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
    let stderr = "";
    let stdout = "";
    child.stderr!.on("data", (d) => { stderr += d; });
    child.stdout!.on("data", (d) => { stdout += d; });
    child.on("close", (code) => resolve({ code, stderr, stdout }));
  });
  const expectExitedOk = (res: { code: number | null; stderr: string }) =>
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
  const sourceRead = (C: string, blob: string) => (r: SeenRequest) => r.account === "source" && r.method === "GET" && r.container === C && r.blob === blob;
  /** C alone, its source read through the proxy (the target directly), every guard out of the way. */
  const configure = (C: string) => drill.writeConfig({
    containers: [C], transferConcurrency: 4, guards: { maxOverwritePercent: 100, maxDeletePercent: 100 },
    source: { blobEndpoint: `${proxy.url}/source/`, sasEnv: "DR_SOURCE_SAS" },
  });
  const body = (name: string, gen: string) => `${gen} of ${name} `.padEnd(200, ".");
  const blobs = (names: string[], gen: string): SeedBlob[] => names.map((name) => ({ name, body: body(name, gen), contentType: "text/plain", metadata: { gen } }));

  /** The version blobs of container C, by name. */
  const versionBlobs = async (C: string): Promise<string[]> => {
    const cc = drill.sites.target.container(VERSIONS);
    const out: string[] = [];
    if (!(await cc.exists())) return out;
    for await (const b of cc.listBlobsFlat({ prefix: `v/${C}/` })) out.push(b.name);
    return out;
  };
  /** Every index line of container C, with its version blob's text and Last-Modified. */
  const indexLines = async (C: string) => {
    const cc = drill.sites.target.container(VERSIONS);
    const out: (VersionEntry & { text: string; versionWritten: Date })[] = [];
    for await (const b of cc.listBlobsFlat({ prefix: `i/${C}/` })) {
      const lines = (await cc.getBlobClient(b.name).downloadToBuffer()).toString("utf8").split("\n").filter(Boolean);
      for (const line of lines) {
        const e = JSON.parse(line) as VersionEntry;
        const v = cc.getBlobClient(e.version);
        out.push({ ...e, text: (await v.downloadToBuffer()).toString("utf8"), versionWritten: (await v.getProperties()).lastModified! });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  };
  const status = async () => JSON.parse((await drill.run(["status", "--json"])).stdout) as { containers: { container: string; push?: Record<string, number> }[] };

  test("versions of the blobs a pull replaces or deletes are copied while it still reads the source; the push records each once", async () => {
    const C = "ahead";
    const names = Array.from({ length: 12 }, (_, i) => `a/${String(i).padStart(2, "0")}`);
    configure(C);
    await seed(drill.sites.source, C, blobs(names, "v1"));
    expectExitedOk(await drill.run(["run"]));
    // 5 changed (the read of the last one held), 2 deleted at the source.
    await seed(drill.sites.source, C, blobs(names.slice(0, 5), "v2"));
    for (const n of names.slice(5, 7)) await drill.sites.source.container(C).deleteBlob(n);
    const before = await snapshot(drill.sites.target.container(C));
    const etags: Record<string, string> = {};
    for await (const b of drill.sites.target.container(C).listBlobsFlat()) etags[b.name] = normalizeEtag(b.properties.etag);
    proxy.hold(sourceRead(C, names[4]));
    const run = exited(drill.spawn(["run"]));
    // While the pull cannot end, the target's service copies all 7 versions, and the container is not touched yet.
    await waitFor("7 versions copied while the pull holds a read", async () => (await versionBlobs(C)).length >= 7);
    expect(proxy.seen.some(sourceRead(C, names[4]))).toBe(true);
    expect(await snapshot(drill.sites.target.container(C))).toEqual(before);
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    // Each version copied once, and recorded once, just before its write: the one the push replaced or deleted.
    expect((await versionBlobs(C)).length).toBe(7);
    const lines = await indexLines(C);
    expect(lines.map((l) => [l.name, l.reason, l.text])).toEqual([
      ...names.slice(0, 5).map((n) => [n, "overwritten by a push", body(n, "v1")]),
      ...names.slice(5, 7).map((n) => [n, "deleted by a push", body(n, "v1")]),
    ]);
    for (const l of lines) {
      expect(l.etag).toBe(etags[l.name]);
      // Kept (recorded) after its copy was made, by the service's clock (to the second its Last-Modified has).
      expect(Date.parse(l.keptAt)).toBeGreaterThanOrEqual(l.versionWritten.getTime());
    }
    expect((await status()).containers[0].push).toMatchObject({ versionsKept: 7, failed: 0 });
  });

  test("written at the DR site before its copy ahead (refused) or after it (unused): the push keeps the version it replaces", async () => {
    const C = "ahead";
    const names = ["b/0", "b/1", "b/2", "b/3"];
    await seed(drill.sites.source, C, blobs(names, "v1"));
    expectExitedOk(await drill.run(["run"]));
    const copiesBefore = (await versionBlobs(C)).length;
    // b/1 is written at the DR site before the run: its copy ahead, conditional on the ETag we wrote, is refused.
    await seed(drill.sites.target, C, [{ name: "b/1", body: "b/1 written at the DR site before the run" }]);
    await seed(drill.sites.source, C, blobs(names, "v2"));
    proxy.hold(sourceRead(C, "b/3"));
    const run = exited(drill.spawn(["run"]));
    await waitFor("the versions of b/0, b/2 and b/3 copied ahead", async () => (await versionBlobs(C)).length >= copiesBefore + 3);
    // b/0 is written at the DR site after its version was copied ahead: that copy is not the version the push meets.
    await seed(drill.sites.target, C, [{ name: "b/0", body: "b/0 written at the DR site mid-run" }]);
    proxy.release();
    expectExitedOk(await run);
    await expectSitesEqual(drill, [C]);
    const lines = (await indexLines(C)).filter((l) => names.includes(l.name));
    expect(lines.map((l) => [l.name, l.text])).toEqual([
      ["b/0", "b/0 written at the DR site mid-run"],
      ["b/1", "b/1 written at the DR site before the run"],
      ["b/2", body("b/2", "v1")],
      ["b/3", body("b/3", "v1")],
    ]);
    // 3 copies ahead and 2 made by the push: the unused one has no index line, so no restore can offer it.
    expect((await versionBlobs(C)).length).toBe(copiesBefore + 5);
    expect((await status()).containers[0].push).toMatchObject({ versionsKept: 4, retainedFromDestination: 2, failed: 0 });
  });

  test("a source wiped by mistake: the guard stops the pull, and no version is copied ahead", async () => {
    const C = "ahead";
    const copiesBefore = (await versionBlobs(C)).length;
    drill.writeConfig({ containers: [C], transferConcurrency: 4, source: { blobEndpoint: `${proxy.url}/source/`, sasEnv: "DR_SOURCE_SAS" } });
    const cc = drill.sites.source.container(C);
    for await (const b of cc.listBlobsFlat()) await cc.deleteBlob(b.name);
    const stopped = await drill.run(["run"]);
    expect(stopped.code).toBe(4);
    expect((await versionBlobs(C)).length).toBe(copiesBefore);
  });
});
