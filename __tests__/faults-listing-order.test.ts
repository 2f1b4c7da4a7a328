import { Drill, expectSitesEqual, seed, startDrill, throughProxy } from "./support/harness";
import { eventsOf, snapshotExact } from "./support/faults";
import { RecordingProxy, startRecordingProxy } from "./support/recording-proxy";

/** Swaps the first two blobs of a List Blobs page: a service (or a middlebox) that answers out of name order. */
function swapFirstTwo(xml: string): string {
  const blobs = [...xml.matchAll(/<Blob>[\s\S]*?<\/Blob>/g)];
  if (blobs.length < 2) return xml;
  const [a, b] = blobs;
  return xml.slice(0, a.index!) + b[0] + xml.slice(a.index! + a[0].length, b.index!) + a[0] + xml.slice(b.index! + b[0].length);
}

/**
 * The hops walk listings in the service's name order (docs/engine.md), so a listing that is not in that order must
 * stop the container as an error, never be read as blobs deleted: here a proxy between dr-sync and Azurite swaps
 * two blobs of every listing page, at the source and then at the target, while a blob deleted at the source waits
 * to be propagated.
 */
describe("a listing out of order stops the container and deletes nothing", () => {
  let drill: Drill;
  let proxy: RecordingProxy;
  const C = "ord";
  const deletesAtTarget = () => proxy.seen.filter((r) => r.account === "target" && r.container === C && r.method === "DELETE" && r.blob);
  const uploadsAtTarget = () => proxy.seen.filter((r) => r.account === "target" && r.container === C && r.upload);

  beforeAll(async () => {
    drill = await startDrill([C]);
    proxy = await startRecordingProxy(() => drill.sites.port);
    drill.writeConfig(throughProxy(proxy.url));
    await seed(drill.sites.source, C, Array.from({ length: 12 }, (_, i) => ({ name: `b-${String(i).padStart(2, "0")}`, body: `blob ${i}` })));
    const first = await drill.run(["run"]);
    expect({ code: first.code, stderr: first.code === 0 ? "" : first.stderr }).toEqual({ code: 0, stderr: "" });
    await expectSitesEqual(drill);
    // Deleted at the source: a deletion the next run would propagate, if it took a listing for complete.
    await drill.sites.source.container(C).deleteBlob("b-05");
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await drill?.stop();
  });

  test.each([
    ["source", "the pull"],
    ["target", "the push"],
  ])("the %s's listing out of order: %s stops with an error naming it, nothing is deleted anywhere", async (account) => {
    const before = await snapshotExact(drill.sites.target, C);
    proxy.seen.length = 0;
    proxy.rewriteLists((r) => r.account === account && r.container === C, swapFirstTwo);
    try {
      const res = await drill.run(["run"]);
      expect(res.code).toBe(1);
      const failed = eventsOf(res.stderr).find((e) => e.event === "container.failed");
      expect(failed?.msg).toMatch(new RegExp(`the (${account === "source" ? "source" : "destination"}) listing is out of order: .* nothing was deleted`));
    } finally {
      proxy.rewriteLists(undefined);
    }
    // The proxy really reordered a listing, and dr-sync neither deleted nor wrote at the target.
    expect(proxy.seen.some((r) => r.list && r.account === account && r.container === C)).toBe(true);
    expect(deletesAtTarget()).toEqual([]);
    expect(await snapshotExact(drill.sites.target, C)).toEqual(before);
    expect(Object.keys(before)).toContain("b-05");
  });

  test("a later run with the service in order again propagates the deletion, and only it", async () => {
    proxy.seen.length = 0;
    const res = await drill.run(["run"]);
    expect({ code: res.code, stderr: res.code === 0 ? "" : res.stderr }).toEqual({ code: 0, stderr: "" });
    expect(deletesAtTarget().map((r) => r.blob)).toEqual(["b-05"]);
    expect(uploadsAtTarget()).toEqual([]);
    await expectSitesEqual(drill);
  });
});
