import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Drill, seed, snapshot, startDrill } from "./support/harness";
import { eventsOf, Figures, sha256 } from "./support/faults";

const N = 20;
const body = (c: string, i: number) => `${c} blob ${i} `.repeat(20 + i);

/**
 * Mistakes at the source: a container deleted, 90% of a container's blobs deleted, every blob emptied. The guards
 * stop the propagation with exit 4 (a missing container is a fatal error, exit 1), the target keeps its data, and
 * when an operator overrides on purpose the retention area holds what was replaced and restore brings it back.
 */
describe("mistakes at the source", () => {
  let drill: Drill;
  const figures = new Figures("faults-source-mistakes");
  const containers = ["gone", "thinned", "zeroed"];
  let original: Record<string, Awaited<ReturnType<typeof snapshot>>>;

  const targets = async () => Object.fromEntries(await Promise.all(containers.map(async (c) => [c, await snapshot(drill.sites.target.container(c))] as const)));

  beforeAll(async () => {
    drill = await startDrill(containers);
    for (const c of containers) await seed(drill.sites.source, c, Array.from({ length: N }, (_, i) => ({ name: `f/${i}.txt`, body: body(c, i), metadata: { n: String(i) } })));
    expect((await drill.run(["run"])).code).toBe(0);
    original = await targets();
  });
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  test("90% deleted and everything emptied: the guards stop both containers with exit 4, the target keeps its data", async () => {
    for (let i = 0; i < 18; i++) await drill.sites.source.container("thinned").deleteBlob(`f/${i}.txt`);
    await seed(drill.sites.source, "zeroed", Array.from({ length: N }, (_, i) => ({ name: `f/${i}.txt`, body: "" })));
    for (const attempt of [1, 2]) {
      const res = await drill.run(["run"]);
      figures.add("scenarios");
      expect({ attempt, code: res.code }).toEqual({ attempt, code: 4 });
      const stops = eventsOf(res.stderr).filter((e) => e.event === "guard.stopped").map((e) => e.msg);
      expect(stops).toEqual([
        expect.stringMatching(/^delete guard stopped the pull of container "thinned": 18 deletion\(s\) would remove 90\.0% of the 20 blob\(s\) in staging.*Nothing was deleted or emptied.*--allow-mass-delete thinned/),
        expect.stringMatching(/^delete guard stopped the pull of container "zeroed": 0 deletion\(s\) and 20 blob\(s\) emptied would remove 100\.0% of the 20 blob\(s\) in staging.*--allow-mass-delete zeroed/),
      ]);
      expect(await targets()).toEqual(original);
      figures.add("blobsChecked", containers.length * N);
    }
    expect((await drill.run(["status"])).stdout).toMatch(/thinned: guard[\s\S]*zeroed: guard/);
  });

  test("after an override on purpose, the retention area holds every replaced copy and restore brings one back", async () => {
    const res = await drill.run(["run", "--allow-mass-delete", "thinned", "--allow-mass-delete", "zeroed"]);
    figures.add("scenarios");
    expect({ code: res.code, stderr: res.stderr.slice(-1500) }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(eventsOf(res.stderr).filter((e) => e.event === "guard.override").length).toBeGreaterThanOrEqual(2);
    const now = await targets();
    expect(Object.keys(now.thinned).sort()).toEqual(["f/18.txt", "f/19.txt"]);
    expect(Object.values(now.zeroed).every((b) => b.size === 0)).toBe(true);

    const list = async (c: string) => JSON.parse((await drill.run(["retention", "list", "--container", c, "--json"])).stdout) as { name: string; reason: string; size: number }[];
    const thinned = await list("thinned");
    const zeroed = await list("zeroed");
    expect(thinned.filter((c) => c.reason === "deleted at source").map((c) => c.name).sort()).toEqual(Array.from({ length: 18 }, (_, i) => `f/${i}.txt`).sort());
    expect(zeroed.filter((c) => c.reason === "overwritten by a newer source version" && c.size > 0).map((c) => c.name).sort())
      .toEqual(Array.from({ length: N }, (_, i) => `f/${i}.txt`).sort());
    const human = await drill.run(["retention", "list", "--container", "zeroed"]);
    expect(human.stdout).toMatch(/zeroed "f\/7\.txt" \d+ bytes \(overwritten by a newer source version\)/);

    // Back to the target, with its metadata; and out to a file.
    const restored = await drill.run(["restore", "--container", "thinned", "--blob", "f/3.txt"]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^restored "f\/3\.txt" .*deleted at source.* to thinned at target \(127/);
    expect((await snapshot(drill.sites.target.container("thinned")))["f/3.txt"]).toEqual(original.thinned["f/3.txt"]);
    const out = join(drill.dir, "f7.txt");
    expect((await drill.run(["restore", "--container", "zeroed", "--blob", "f/7.txt", "--out", out])).code).toBe(0);
    expect(sha256(readFileSync(out))).toBe(original.zeroed["f/7.txt"].sha256);
    figures.add("restores", 2);
    figures.add("blobsChecked", 18 + N);
  });

  test("a deleted source container: the run fails naming it (exit 1), the target keeps every blob of it", async () => {
    await drill.sites.source.container("gone").delete();
    const before = await snapshot(drill.sites.target.container("gone"));
    const res = await drill.run(["run"]);
    figures.add("scenarios");
    expect(res.code).toBe(1);
    expect(eventsOf(res.stderr).find((e) => e.event === "container.failed")?.msg).toMatch(/^source .*container "gone" not found; nothing was copied or deleted for it/);
    expect(res.stdout).toMatch(/gone: failed/);
    expect(await snapshot(drill.sites.target.container("gone"))).toEqual(before);
    expect(Object.keys(before)).toHaveLength(N);
    figures.add("blobsChecked", N);
  });
});
