import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { DrSyncConfig } from "../runtime/src/config/schema";
import { runDrill } from "../tools/drill/drill";
import { localizeConfig } from "../tools/drill/local-config";
import { DRILL_DEFAULTS, DrillOptions, parseDrillArgs } from "../tools/drill/options";
import { DrillReport, formatReport } from "../tools/drill/report";
import { initialSamples, planChanges } from "../tools/drill/sample-data";
import { BlobView, compareBlob } from "../tools/drill/site-data";

const DRILL_BUNDLE = resolve(__dirname, "../build/drill.js");
/** A short drill: two cycles, ten small blobs per container, one large blob just above the single-request limit. */
const SHORT = ["--cycles", "2", "--blobs", "10", "--large-mib", "9"];

describe("drill options", () => {
  test("no flags: the embedded default drill", () => {
    expect(parseDrillArgs([])).toEqual({ ...DRILL_DEFAULTS, tty: false });
  });

  it.each<[string[], Partial<DrillOptions>]>([
    [["--cycles", "2", "--blobs=12"], { cycles: 2, blobsPerContainer: 12 }],
    [["--large-mib", "1.5,9"], { largeBlobsMiB: [1.5, 9] }],
    [["--large-mib", ""], { largeBlobsMiB: [] }],
    [["--json", "--seed", "7", "--environment", "x.json"], { json: true, seed: 7, environmentFile: "x.json" }],
  ])("%j", (argv, expected) => {
    expect(parseDrillArgs(argv)).toEqual(expect.objectContaining(expected));
  });

  test("every problem at once, each naming its flag", () => {
    expect(() => parseDrillArgs(["--cycles", "1", "--blobs", "x", "--large-mib", "0", "--frobnicate"])).toThrow(
      /--cycles must be a whole number from 2 to 20 \(got "1"\)\n--blobs must be .*\n--large-mib must list sizes .*\nunknown option "--frobnicate"/);
  });
});

describe("sample changes between cycles", () => {
  it.each([
    [{ maxDeletePercent: 20, maxDeleteCount: null }, 10],
    [{ maxDeletePercent: 50, maxDeleteCount: null }, 10],
    [{ maxDeletePercent: 100, maxDeleteCount: null }, 10],
    [{ maxDeletePercent: 50, maxDeleteCount: 1 }, 40],
    [{ maxDeletePercent: 5, maxDeleteCount: null }, 10],
  ])("stay within the delete guard %j with %i blobs per container", (guards, perContainer) => {
    const set = initialSamples(["invoices", "images"], perContainer, [0.01], 3);
    for (let cycle = 2; cycle <= 4; cycle++) {
      const changes = planChanges(set, cycle, guards, 3);
      for (const [container, blobs] of set) {
        const deletes = changes.deletes.filter((d) => d.container === container).length;
        expect(deletes).toBeLessThanOrEqual(Math.floor((blobs.size * Math.min(guards.maxDeletePercent, 50)) / 100));
        expect(deletes).toBeLessThanOrEqual(guards.maxDeleteCount ?? Infinity);
        expect(changes.puts.some((p) => p.container === container)).toBe(true);
      }
    }
  });
});

describe("the VM's config moved onto this machine", () => {
  const rendered: DrSyncConfig = {
    source: { blobEndpoint: "https://exampledrsource.blob.east.contoso.com/", sasEnv: "DR_SYNC_SOURCE_SAS", name: "hub-east" },
    target: { blobEndpoint: "https://exampledrtarget.blob.west.contoso.com/", sasEnv: "DR_SYNC_TARGET_SAS", name: "hub-west" },
    containers: ["invoices", "images"],
    stagingDir: "/srv/drsync/staging",
    stateDir: "/srv/drsync/state",
    guards: { maxDeletePercent: 20, maxDeleteCount: null },
  };
  const endpoints = new Map([
    ["https://exampledrsource.blob.east.contoso.com/", "http://127.0.0.1:4001/source/"],
    ["https://exampledrtarget.blob.west.contoso.com/", "http://127.0.0.1:4002/target/"],
  ]);

  test("only endpoints, folders and loopback http change", () => {
    expect(localizeConfig(rendered, endpoints, "/tmp/drill")).toEqual({
      ...rendered,
      source: { ...rendered.source, blobEndpoint: "http://127.0.0.1:4001/source/" },
      target: { ...rendered.target, blobEndpoint: "http://127.0.0.1:4002/target/" },
      stagingDir: "/tmp/drill/staging",
      stateDir: "/tmp/drill/state",
      allowInsecureHttp: true,
    });
  });

  test("an endpoint of neither site is refused, naming the key", () => {
    const other = { ...rendered, target: { ...rendered.target, blobEndpoint: "https://elsewhere.blob.example.com/" } };
    expect(() => localizeConfig(other, endpoints, "/tmp/drill")).toThrow(/target\.blobEndpoint "https:\/\/elsewhere\.blob\.example\.com\/" of the rendered config is neither site/);
  });
});

describe("the drill's own blob comparison", () => {
  const base: BlobView = { size: 3, sha256: "abc", props: { contentType: "text/plain", contentMD5: "bWQ1" }, metadata: { Origin: "drill" } };
  it.each<[string, Partial<BlobView>, string[]]>([
    ["identical", {}, []],
    ["metadata names differ only in case", { metadata: { origin: "drill" } }, []],
    ["other bytes", { sha256: "def" }, ['sha256 "def", expected "abc"']],
    ["content type lost", { props: { contentMD5: "bWQ1" } }, ['contentType null, expected "text/plain"']],
    ["Content-MD5 lost", { props: { contentType: "text/plain" } }, ['contentMD5 null, expected "bWQ1"']],
    ["metadata value changed", { metadata: { origin: "other" } }, ['metadata.origin "other", expected "drill"']],
  ])("%s", (_, change, problems) => {
    expect(compareBlob(base, { ...base, ...change })).toEqual(problems);
  });

  test("Content-MD5 is not expected of a blob whose writer did not set one", () => {
    expect(compareBlob({ ...base, props: { contentType: "text/plain" } }, base)).toEqual([]);
  });
});

/** What every passing drill must show, whether run in-process or as the bundle. */
function expectDrillPassed(report: DrillReport): void {
  expect(report).toMatchObject({ ok: true, environment: "example", containers: ["invoices", "images"] });
  expect(report.schedule).toMatch(/\S/);
  // Target equals source after each cycle, by the runtime's verify and by the drill's own full read.
  expect(report.cycles.map((c) => c.label)).toEqual(["cycle 1", "cycle 2", "failback", "switch back"]);
  for (const c of report.cycles) {
    expect({ label: c.label, verify: c.verify, differences: c.fidelity.differences }).toEqual({
      label: c.label, verify: { ok: true, compared: c.fidelity.blobs, differences: 0 }, differences: 0,
    });
    expect(c.rpoSeconds).not.toBeNull();
  }
  expect(report.cycles[0]).toMatchObject({ direction: "hub-east -> hub-west", copied: report.seeded!.blobs });
  expect(report.cycles[2].direction).toBe("hub-west -> hub-east");
  // Failover: the application reads the replicated data from the target, and the unreplicated blob is not there.
  expect(report.disaster).toMatchObject({ unreplicatedAtTarget: false, unreplicated: { container: "invoices", name: "incoming/pre-disaster-order.json" } });
  expect(report.failover).toMatchObject({ activeEndpoint: "https://exampledrtarget.blob.west.contoso.com/", replication: "exampledrtarget -> exampledrsource" });
  expect(report.failover!.blobsRead).toBeGreaterThan(0);
  // Failback loses nothing: what only the old source held is in the retention area.
  expect(report.failback!.unreplicatedKept).toBe(true);
  // The VM back with its pre-disaster direction was refused by the live target's fence, and wrote nothing.
  expect(report.fenced).toMatchObject({ exitCode: 5, message: expect.stringMatching(/is the active site .*nothing was written/) });
  expect(report.failback!.retained).toContainEqual(expect.objectContaining({
    container: "invoices", name: "incoming/pre-disaster-order.json", reason: "destination copy deleted",
  }));
  expect(report.steps.every((s) => s.ok)).toBe(true);
  expectApplicationFollowedTheFences(report);
}

/** The application with the failover-aware client: which site served each phase, and the zero-RPO container. */
function expectApplicationFollowedTheFences(report: DrillReport): void {
  const app = report.application!;
  expect(app).toMatchObject({ synchronousContainer: "invoices", otherContainer: "images", mode: "best-effort" });
  const phases = Object.fromEntries(app.phases.map((p) => [p.phase, p]));
  expect(app.phases.map((p) => p.phase)).toEqual(["normal", "last writes", "outage, no failover declared", "failover", "split brain", "failback", "switch back"]);
  // Nothing beyond fence reads and the synchronous container's mirrored writes ever reached the passive site.
  for (const p of app.phases) expect({ phase: p.phase, toPassive: p.toPassive }).toEqual({ phase: p.phase, toPassive: 0 });
  for (const [name, site] of [["normal", "hub-east"], ["failover", "hub-west"], ["failback", "hub-west"], ["switch back", "hub-east"]]) {
    expect(phases[name]).toMatchObject({ activeSite: site, failed: 0 });
    expect(phases[name].ok).toBeGreaterThan(0);
  }
  // The source down without a declared failover: requests fail, and the client does not move on its own.
  expect(phases["outage, no failover declared"]).toMatchObject({ ok: 0, activeSite: "hub-east" });
  // The returning source's stale "active" fence: split brain, refused, nothing sent to either site.
  expect(phases["split brain"]).toMatchObject({ ok: 0, requests: { source: 0, target: 0 } });
  expect(phases["split brain"].errors[0]).toMatch(/^SplitBrainError: .*hub-east and hub-west/);
  // RPO zero for the synchronous container, the usual loss for the other.
  expect(app.lastWrites).toMatchObject({ synchronous: { atTarget: true }, other: { atTarget: false } });
  expect(report.failback!.retained).toContainEqual(expect.objectContaining({ container: "images", name: expect.stringMatching(/^app-loop\/last-writes-/), reason: "destination copy deleted" }));
  expect(app.journaledMisses).toBeGreaterThan(0);
}

const drillFolders = () => readdirSync(tmpdir()).filter((f) => f.startsWith("drsync-drill-"));

test("the drill passes in-process and says so in its report", async () => {
  const before = drillFolders();
  const lines: string[] = [];
  const opts = parseDrillArgs(SHORT) as DrillOptions;
  const report = await runDrill(opts, (l) => lines.push(l));
  if (!report.ok) throw new Error(`drill failed at "${report.failedStep}": ${report.error}\n${lines.join("\n")}`);
  expectDrillPassed(report);
  expect(lines.filter((l) => /dr-sync verify: \d+ blobs compared, no differences/.test(l))).toHaveLength(4);
  const text = formatReport(report);
  expect(text).toMatch(/OnCalendar=\S+/);
  expect(text).toMatch(/nothing lost {2}yes: .*\n(.*\n)*\s+invoices\/incoming\/pre-disaster-order\.json \(\d+ B, destination copy deleted\)/);
  expect(text).toMatch(/result {8}PASSED/);
  expect(text).toMatch(/RPO zero {6}invoices\/app-loop\/last-writes-\d+\.json, .*at the target as written \(RPO 0\)/);
  expect(text).toMatch(/split brain +0\/1 +none/);
  expect(drillFolders()).toEqual(before);
});

/** Runs the built drill as `npm start` does and collects its output. */
function runBundle(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [DRILL_BUNDLE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

test("the built drill runs as a process, exits 0 and prints its report as JSON", async () => {
  const r = await runBundle([...SHORT, "--large-mib", "1", "--json"]);
  if (r.code !== 0) throw new Error(`drill exited with ${r.code}\n${r.stdout}\n${r.stderr}`);
  expectDrillPassed(JSON.parse(r.stdout));
  expect(r.stderr).toMatch(/-> failover: the application reads its data from the target/);
});

test("a failing drill exits 1 and names the step", async () => {
  const r = await runBundle(["--environment", "/nonexistent/example.json"]);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/result {8}FAILED at step "render the environment through the constructs": .*nonexistent/);
  expect(r.stderr).toMatch(/drill: FAILED at step "render the environment through the constructs"/);
});

test("bad flags exit 2 with the usage", async () => {
  const r = await runBundle(["--cycles", "0"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--cycles must be a whole number from 2 to 20[\s\S]*usage: npm start/);
});
