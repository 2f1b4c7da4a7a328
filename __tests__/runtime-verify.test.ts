import { Drill, manyBlobs, seed, startDrill } from "./support/harness";

/**
 * `verify` on a pair far out of sync: every difference is written out as the walk finds it (nothing per difference
 * is kept), the text shows the first 100 and counts the rest, and `--json` is one document with all of them.
 */
describe("verify of a target that has never been replicated to", () => {
  let drill: Drill;
  const C = "far";
  const BLOBS = 120;

  beforeAll(async () => {
    drill = await startDrill([C]);
    await seed(drill.sites.source, C, manyBlobs(BLOBS, "v", 16));
  }, 120_000);
  afterAll(async () => {
    await drill?.stop();
  });

  test("text: the missing container is named once, then the first missing blobs; the rest are counted; exit 1", async () => {
    const r = await drill.run(["verify"]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`  ${C}/*: container missing at target`);
    expect(lines.slice(1, 100).every((l) => /^ {2}far\/"v\/.*": missing at target$/.test(l))).toBe(true);
    expect(lines.slice(100)).toEqual([
      `  ... ${BLOBS + 1 - 100} more (--json lists all)`,
      `${C}: ${BLOBS} at source, 0 at target, ${BLOBS + 1} difference(s)`,
      `verify: ${BLOBS + 1} difference(s)`,
    ]);
  });

  test("--json: every difference in one document, with the counts", async () => {
    const r = await drill.run(["verify", "--json"]);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout) as { differences: { container: string; name: string; problem: string }[]; differenceCount: number; ok: boolean; containers: unknown[] };
    expect(v.differences).toHaveLength(BLOBS + 1);
    expect(v.differences[0]).toEqual({ container: C, name: "", problem: "container missing at target" });
    expect(new Set(v.differences.slice(1).map((d) => d.name)).size).toBe(BLOBS);
    expect(v).toMatchObject({ differenceCount: BLOBS + 1, ok: false, containers: [{ container: C, source: BLOBS, target: 0, compared: 0, differences: BLOBS + 1 }] });
  });

  test("after a run: no differences, exit 0, in both forms", async () => {
    expect((await drill.run(["run"])).code).toBe(0);
    const text = await drill.run(["verify"]);
    expect({ code: text.code, out: text.stdout }).toEqual({ code: 0, out: `${C}: ${BLOBS} at source, ${BLOBS} at target, 0 difference(s)\nverify: target matches source\n` });
    const j = await drill.run(["verify", "--json"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ differences: [], containers: [{ container: C, source: BLOBS, target: BLOBS, compared: BLOBS, differences: 0 }], differenceCount: 0, ok: true });
  });
});
