import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Drill, expectSitesEqual, seed, SeedBlob, snapshot, startDrill } from "./support/harness";
import { eventsOf, Figures, mountTmpfs, sha256, stagingProblems, targetChangesOfAStoppedRun, unmount } from "./support/faults";

const MiB = 1024 * 1024;

/**
 * The staging disk fills up: staging lives on an 8 MiB tmpfs. The run stops cleanly with a message saying what
 * to do, the target is untouched, staging holds no partial file under a final name, and once space is freed
 * (the tmpfs grown, or a filler file deleted) the next run converges. The pre-flight warning comes first.
 */
/** Whether this machine lets the test mount a tmpfs (root or CAP_SYS_ADMIN), probed once, before any test is declared. */
const CAN_MOUNT = (() => {
  const probe = mkdtempSync(join(tmpdir(), "drsync-mount-probe-"));
  try {
    const ok = mountTmpfs(probe, 1);
    if (ok) unmount(probe);
    return ok;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();
if (!CAN_MOUNT) {
  // eslint-disable-next-line no-console
  console.warn("faults-disk: SKIPPED: `mount -t tmpfs` is not permitted here (needs root or CAP_SYS_ADMIN); the disk-full scenarios did not run");
}

(CAN_MOUNT ? describe : describe.skip)("staging disk full", () => {
  let drill: Drill;
  let mounted = false;
  const figures = new Figures("faults-disk");
  const versions = new Map<string, Set<string>>();

  const put = async (container: string, blobs: SeedBlob[]) => {
    for (const b of blobs) {
      if (!versions.has(b.name)) versions.set(b.name, new Set());
      versions.get(b.name)!.add(sha256(b.body));
    }
    await seed(drill.sites.source, container, blobs);
  };

  beforeAll(async () => {
    drill = await startDrill(["bulk"], { transferConcurrency: 2, blockSizeMiB: 1, singleShotMaxMiB: 1 });
    mounted = mountTmpfs(drill.config.stagingDir, 8);
    expect(mounted).toBe(true);
  });
  afterAll(async () => {
    figures.write();
    if (mounted) unmount(drill.config.stagingDir);
    await drill?.stop();
  });

  test("a pull that does not fit: warned first, stops cleanly, target untouched; converges once the disk is grown", async () => {
    await put("bulk", Array.from({ length: 20 }, (_, i) => ({ name: `small/${i}`, body: randomBytes(100 * 1024) })));
    expect((await drill.run(["run"])).code).toBe(0);

    // 12 MiB more than fits, plus a change and a deletion a successful run would make at the target.
    await put("bulk", Array.from({ length: 12 }, (_, i) => ({ name: `big/${i}.bin`, body: randomBytes(MiB + i) })));
    await put("bulk", [{ name: "small/1", body: randomBytes(2000) }]);
    await drill.sites.source.container("bulk").deleteBlob("small/2");
    const before = await snapshot(drill.sites.target.container("bulk"));

    const full = await drill.run(["run"]);
    figures.add("scenarios");
    figures.add("diskFullStops");
    const events = eventsOf(full.stderr);
    expect(full.code).toBe(1);
    const warn = events.find((e) => e.event === "staging.space");
    expect(warn?.msg).toMatch(/^staging has .* free under .*staging, and the pull of "bulk" needs at least \d+\.\d MiB; it stops when the disk is full \(nothing is deleted then\)/);
    expect(events.findIndex((e) => e.event === "staging.space")).toBeLessThan(events.findIndex((e) => e.event === "pull.fatal"));
    expect(events.find((e) => e.event === "pull.fatal")?.msg).toMatch(/^staging disk: ENOSPC.*the run stopped, nothing was deleted or replaced at the target\. Free space under .* and run again/);
    expect(full.stdout).toMatch(/FAILED/);
    // New blobs staged before the disk filled may have gone ahead to the target; nothing there was deleted or replaced.
    expect(targetChangesOfAStoppedRun(before, await snapshot(drill.sites.target.container("bulk")), versions).problems).toEqual([]);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);

    expect(mountTmpfs(drill.config.stagingDir, 64, true)).toBe(true);
    const after = await drill.run(["run"]);
    expect({ code: after.code, stderr: after.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
    await expectSitesEqual(drill);
    figures.add("blobsChecked", Object.keys(await snapshot(drill.sites.target.container("bulk"))).length);
  });

  test("a disk filled by something else: the run stops, deletes nothing; deleting the filler lets the next run converge", async () => {
    // Leave about 1 MiB free on the (now 64 MiB) staging disk.
    const filler = join(drill.config.stagingDir, "filler");
    const { statfsSync } = await import("node:fs");
    const st = statfsSync(drill.config.stagingDir);
    writeFileSync(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - MiB)));
    await put("bulk", Array.from({ length: 4 }, (_, i) => ({ name: `big/${i}.bin`, body: randomBytes(MiB + 100 + i) })));
    await drill.sites.source.container("bulk").deleteBlob("small/3");
    const before = await snapshot(drill.sites.target.container("bulk"));

    const full = await drill.run(["run"]);
    figures.add("scenarios");
    figures.add("diskFullStops");
    expect(full.code).toBe(1);
    expect(eventsOf(full.stderr).find((e) => e.event === "staging.space")).toBeDefined();
    expect(full.stderr).toMatch(/ENOSPC/);
    expect(targetChangesOfAStoppedRun(before, await snapshot(drill.sites.target.container("bulk")), versions).problems).toEqual([]);
    expect(stagingProblems(drill.config.stagingDir, versions)).toEqual([]);

    // With the disk full to the last block, what is kept can still be listed: the sort falls back to memory.
    const rest = join(drill.config.stagingDir, "filler-rest");
    const left = statfsSync(drill.config.stagingDir);
    writeFileSync(rest, Buffer.alloc(left.bavail * left.bsize));
    const kept = await drill.run(["retention", "list", "--json"]);
    rmSync(rest);
    expect({ code: kept.code, stderr: kept.code === 0 ? "" : kept.stderr.slice(-1500) }).toEqual({ code: 0, stderr: "" });
    expect(eventsOf(kept.stderr).find((e) => e.event === "retention.list")?.msg).toMatch(/cannot hold the sort .*sorted in memory/);
    const listed = JSON.parse(kept.stdout) as { name: string; reason: string }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.map((k) => k.name)).toContain("small/2"); // deleted at the source by the first test, kept here

    rmSync(filler);
    const after = await drill.run(["run"]);
    expect(after.code).toBe(0);
    await expectSitesEqual(drill);
    figures.add("blobsChecked", Object.keys(await snapshot(drill.sites.target.container("bulk"))).length);
  });

  test("the disk fills while the push keeps a target copy we hold no copy of: the push stops, that blob is not overwritten", async () => {
    // Someone rewrites a target blob behind our back; the push must keep that content before replacing it.
    const stranger = randomBytes(2 * MiB);
    await drill.sites.target.container("bulk").getBlockBlobClient("big/0.bin").upload(stranger, stranger.length);
    const filler = join(drill.config.stagingDir, "filler");
    const { statfsSync } = await import("node:fs");
    const st = statfsSync(drill.config.stagingDir);
    writeFileSync(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - 512 * 1024)));

    const full = await drill.run(["run"]);
    figures.add("scenarios");
    figures.add("diskFullStops");
    expect(full.code).toBe(1);
    expect(eventsOf(full.stderr).find((e) => e.event === "container.failed")?.msg)
      .toMatch(/^staging disk: ENOSPC.* while saving a target copy of "big\/0\.bin" to the retention area; the run stopped, nothing was deleted/);
    const kept = await drill.sites.target.container("bulk").getBlobClient("big/0.bin").downloadToBuffer();
    expect(sha256(kept)).toBe(sha256(stranger));

    rmSync(filler);
    const after = await drill.run(["run"]);
    expect(after.code).toBe(0);
    await expectSitesEqual(drill);
    // The stranger's content was kept before being replaced.
    const list = await drill.run(["retention", "list", "--container", "bulk", "--blob", "big/0.bin", "--json"]);
    expect(JSON.parse(list.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ reason: "destination copy overwritten", size: 2 * MiB })]));
  });
});
