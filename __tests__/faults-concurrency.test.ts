import { ChildProcess } from "node:child_process";
import { FaultProxy, startFaultProxy } from "../tools/fault-proxy/fault-proxy";
import { Drill, expectSitesEqual, manyBlobs, RunResult, seed, startDrill } from "./support/harness";
import { Figures, waitFor } from "./support/faults";

const LOCKED = /another dr-sync (run|pull|push|plan)? ?(\(pid \d+, started [^)]+\) holds .*lock|run is starting \(.*lock is new\)); this run exits without touching anything/;

/** Runs that overlap: two started together, a run during verify, the timer firing during a long run. */
describe("concurrent runs", () => {
  let drill: Drill;
  let proxy: FaultProxy;
  const figures = new Figures("faults-concurrency");

  beforeAll(async () => {
    drill = await startDrill(["busy"]);
    // The source is reached through the fault proxy, so one test can hold a run open for as long as it needs.
    proxy = await startFaultProxy({ upstreamPort: () => drill.sites.port });
    drill.writeConfig({ source: { blobEndpoint: `${proxy.url}/source/`, sasEnv: "DR_SOURCE_SAS" }, transferConcurrency: 2 });
  });
  afterAll(async () => {
    figures.write();
    await proxy?.stop();
    await drill?.stop();
  });

  const collect = (child: ChildProcess): Promise<RunResult> => new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => { stdout += d; });
    child.stderr!.on("data", (d) => { stderr += d; });
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });

  test("two runs started together: one exits 3 saying why and touching nothing, the other succeeds", async () => {
    await seed(drill.sites.source, "busy", manyBlobs(60, "together"));
    const [a, b] = await Promise.all([drill.run(["run"]), drill.run(["run"])]);
    figures.add("scenarios");
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 3]);
    const loser = a.code === 3 ? a : b;
    expect(loser.stderr).toMatch(LOCKED);
    expect(loser.stdout).toBe("");
    await expectSitesEqual(drill);
    figures.add("blobsChecked", 60);
  });

  test("a run while verify runs: both finish, verify reads without the lock, and agrees afterwards", async () => {
    await seed(drill.sites.source, "busy", manyBlobs(60, "during-verify"));
    const [run, verify] = await Promise.all([drill.run(["run"]), drill.run(["verify", "--deep"])]);
    figures.add("scenarios");
    expect(run.code).toBe(0);
    // Verify saw the target mid-change: it may report differences, but it must finish normally.
    expect([0, 1]).toContain(verify.code);
    expect(verify.stderr).not.toMatch(/unexpected error/);
    expect(verify.stdout).toMatch(/verify: (target matches source|\d+ difference\(s\))/);
    const after = await drill.run(["verify", "--deep"]);
    expect(after.code).toBe(0);
    figures.add("blobsChecked", 120);
  });

  test("the timer fires during a long run: the second start exits 3 at once, the first finishes", async () => {
    await seed(drill.sites.source, "busy", manyBlobs(40, "long", 2048));
    // One download stalls for 4 s before the proxy drops it (and the run retries it): a long run, for certain.
    proxy.setRules([{ fault: "stall", method: "GET", path: /\/busy\/long/, times: 1, stallMs: 4000 }]);
    const first = drill.spawn(["run", "--log-level", "debug"]);
    const firstDone = collect(first);
    let progress = "";
    first.stderr!.on("data", (d) => { progress += d; });
    await waitFor("the first run to pull a blob", () => /"blob\.pulled"/.test(progress));
    expect(progress).toMatch(/"blob\.pulled"/);
    const second = await drill.run(["run"]);
    figures.add("scenarios");
    // The first run was still going when the second gave up.
    expect(first.exitCode).toBeNull();
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(LOCKED);
    const done = await firstDone;
    expect(done.code).toBe(0);
    await expectSitesEqual(drill);
    expect(proxy.injected.stall).toBe(1);
    figures.add("blobsChecked", 160);
  });
});
