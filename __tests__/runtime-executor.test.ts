import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_CODES } from "../runtime/src/cli/exit-codes";
import { loadConfig } from "../runtime/src/config/load-config";
import { Events } from "../runtime/src/report/events";
import { Redactor } from "../runtime/src/report/redact";
import { siteKey } from "../runtime/src/staging/object-path";
import { RetentionArea } from "../runtime/src/staging/retention";
import { StagingStore } from "../runtime/src/staging/staging-store";
import { PushRecords } from "../runtime/src/state/push-records";
import { FENCED_EXIT_CODE } from "../runtime/src/state/fence";
import { LOCKED_EXIT_CODE } from "../runtime/src/state/lock";
import { FatalError, fatalOf, GuardError, kindOf, StagingDiskError } from "../runtime/src/storage/errors";
import { SiteClient } from "../runtime/src/storage/site-client";
import { SyncContext } from "../runtime/src/sync/context";
import { Executor, planExecutor, storageExecutor } from "../runtime/src/sync/executor";
import { ItemAction, newHopStats } from "../runtime/src/sync/context";
import { TargetVersions } from "../runtime/src/versions/target-versions";
import { listOne } from "../runtime/src/listing/blob-lister";
import { pullContainer } from "../runtime/src/sync/pull";
import { pushContainer } from "../runtime/src/sync/push";
import { ServiceClock } from "../runtime/src/sync/service-clock";
import { blobClient, Drill, seed, SeedBlob, snapshot, startDrill } from "./support/harness";
import { stagedFiles } from "./support/staged-index";

/**
 * Every change a hop makes goes through its executor, and `plan` goes through the very same walk with the plan's
 * executor. Each row sets up a container at real Azurite sites (in process), then runs one cycle as `plan` and
 * one as `run`, each with its executor wrapped in a recorder: both must make the same calls, and the plan must
 * leave staging and the target exactly as they were.
 */
let drill: Drill;
let ctx: SyncContext;

beforeAll(async () => {
  drill = await startDrill(["unused"]);
  const loaded = await loadConfig(drill.configPath, drill.env);
  const { config } = loaded;
  const serviceClock = new ServiceClock(() => new Date());
  ctx = {
    config, src: new SiteClient(config.source, loaded.sourceSas, config), dst: new SiteClient(config.target, loaded.targetSas, config, "target"),
    srcKey: siteKey(config.source.blobEndpoint), dstKey: siteKey(config.target.blobEndpoint),
    retention: new RetentionArea(config.stagingDir, () => serviceClock.now()), events: new Events([], new Redactor()),
    signal: new AbortController().signal, allowMassDelete: new Set(), allowMassChange: new Set(), clock: () => new Date(), serviceClock,
  };
}, 60000);
afterAll(async () => drill?.stop());

/** The executor's changes, as "stage a", "upload a", ... (sorted: the pools run them in any order). */
function recording(exec: Executor, calls: string[]): Executor {
  return {
    ...exec,
    stage: (blob, stats, p) => { calls.push(`stage ${blob.name}`); return exec.stage(blob, stats, p); },
    unstage: (name, reason) => { calls.push(`unstage ${name}`); return exec.unstage(name, reason); },
    adopt: (records, entry, dst) => { calls.push(`adopt ${entry.name}`); exec.adopt(records, entry, dst); },
    upload: (records, job, stats, p) => { calls.push(`upload ${job.entry.name}`); return exec.upload(records, job, stats, p); },
    deleteAtDestination: (records, dst, stats) => { calls.push(`delete ${dst.name}`); return exec.deleteAtDestination(records, dst, stats); },
  };
}

/** One cycle (pull, then push) of `container` as `run` does it; returns the executor's calls or the guard's stop. */
async function runCycle(container: string): Promise<{ calls: string[]; stop?: string }> {
  const calls: string[] = [];
  const store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
  try {
    const exec = recording(storageExecutor(ctx, container, store), calls);
    await pullContainer(ctx, container, store, exec);
    await pushContainer(ctx, container, store, new PushRecords(store.rows, ctx.dstKey), exec);
    return { calls: calls.sort() };
  } catch (err) {
    if (err instanceof GuardError) return { calls: calls.sort(), stop: err.message };
    throw err;
  } finally {
    await store.close();
  }
}

/** The same cycle as `plan` does it. */
async function planCycle(container: string): Promise<{ calls: string[]; stop?: string; report: { pull: ItemAction[]; push: ItemAction[] } }> {
  const calls: string[] = [];
  const store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
  const planned = store.planView();
  try {
    const report: { pull: ItemAction[]; push: ItemAction[] } = { pull: [], push: [] };
    const exec = recording(planExecutor(ctx, planned, (hop, a) => report[hop].push(a)), calls);
    const pulled = await pullContainer(ctx, container, planned, exec);
    if (pulled.guardStop) return { calls: calls.sort(), stop: pulled.guardStop, report };
    const pushed = await pushContainer(ctx, container, planned, new PushRecords(planned.rows, ctx.dstKey), exec);
    return { calls: calls.sort(), stop: pushed.guardStop, report };
  } finally {
    await planned.close();
    await store.close();
  }
}

const blobs = (names: string[], tag = "v1"): SeedBlob[] => names.map((name) => ({ name, body: `${name} ${tag}`, contentType: "text/plain" }));
const ABCD = ["a", "b", "c", "d"];

interface Row {
  readonly container: string;
  /** What the source (and target) hold before the cycle under test; `replicated` runs one cycle first. */
  readonly setup: (container: string) => Promise<void>;
  readonly calls: string[];
  /** The guard stops the cycle: its message matches. */
  readonly stop?: RegExp;
}

const replicate = async (container: string, names = ABCD) => {
  await seed(drill.sites.source, container, blobs(names));
  expect((await runCycle(container)).stop).toBeUndefined();
};

const ROWS: [string, Row][] = [
  ["a new source blob is staged, then uploaded", {
    container: "x-new", setup: async (c) => { await replicate(c); await seed(drill.sites.source, c, blobs(["e"])); }, calls: ["stage e", "upload e"],
  }],
  ["a blob deleted at the source is unstaged, then deleted at the target", {
    container: "x-deleted", setup: async (c) => { await replicate(c); await drill.sites.source.container(c).deleteBlob("a"); }, calls: ["delete a", "unstage a"],
  }],
  ["a changed blob replaces the staged and the target copy", {
    container: "x-changed", setup: async (c) => { await replicate(c); await seed(drill.sites.source, c, blobs(["b"], "v2")); }, calls: ["stage b", "upload b"],
  }],
  ["nothing changed: no call at all", { container: "x-same", setup: (c) => replicate(c), calls: [] }],
  ["a target blob changed behind our back is rewritten from staging", {
    container: "x-behind", setup: async (c) => { await replicate(c); await seed(drill.sites.target, c, blobs(["c"], "forged")); }, calls: ["upload c"],
  }],
  ["a target blob already identical, with no record of ours, is adopted", {
    container: "x-adopt", setup: async (c) => { await seed(drill.sites.target, c, blobs(ABCD)); await seed(drill.sites.source, c, blobs(ABCD)); },
    calls: ["adopt a", "adopt b", "adopt c", "adopt d", "stage a", "stage b", "stage c", "stage d"],
  }],
  ["a target blob staging never had is deleted (after being kept)", {
    container: "x-stranger", setup: async (c) => { await replicate(c); await blobClient(drill.sites.target.container(c), "zz").upload("stranger", 8); }, calls: ["delete zz"],
  }],
  ["a mass deletion stops at the pull's guard: nothing unstaged, nothing deleted", {
    container: "x-guard", setup: async (c) => { await replicate(c); for (const n of ["a", "b", "c"]) await drill.sites.source.container(c).deleteBlob(n); },
    calls: [], stop: /delete guard stopped the pull of container "x-guard": 3 deletion\(s\)/,
  }],
];

describe("one executor for every change, and plan through the same walk", () => {
  test.each(ROWS)("%s", async (_title, row) => {
    await row.setup(row.container);
    const staged = () => stagedFiles(ctx.config.stagingDir).filter((f) => f.containerDir.endsWith(`/${row.container}`)).map((f) => f.entry);
    const before = { staged: staged(), target: await snapshot(drill.sites.target.container(row.container)) };

    const plan = await planCycle(row.container);
    expect({ calls: plan.calls, stop: plan.stop }).toEqual({ calls: row.calls, stop: row.stop ? expect.stringMatching(row.stop) : undefined });
    // The plan shows what it would do: every call as an action of its hop (and, stopped, what the guard refused).
    if (!row.stop) expect([...plan.report.pull, ...plan.report.push].length).toBe(row.calls.length);
    expect({ staged: staged(), target: await snapshot(drill.sites.target.container(row.container)) }).toEqual(before);

    const run = await runCycle(row.container);
    expect(run).toEqual({ calls: row.calls, ...(row.stop ? { stop: expect.stringMatching(row.stop) } : {}) });
    if (!row.stop) {
      expect(await snapshot(drill.sites.target.container(row.container))).toEqual(await snapshot(drill.sites.source.container(row.container)));
      expect(await runCycle(row.container)).toEqual({ calls: [] });
    } else {
      expect({ staged: staged(), target: await snapshot(drill.sites.target.container(row.container)) }).toEqual(before);
    }
  }, 60000);
});

describe("exit codes come from one table", () => {
  const codes = Object.entries(EXIT_CODES).map(([name, code]) => [name, code] as const);
  const documented = (file: string) => {
    const text = readFileSync(join(__dirname, "..", file), "utf8");
    return [...text.matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1]));
  };
  test.each(codes)("%s (%i) is documented in docs/runbooks.md", (_name, code) => {
    expect(documented("docs/runbooks.md")).toContain(code);
  });
  test("docs/runbooks.md documents no exit code the table lacks, each once", () => {
    expect(documented("docs/runbooks.md")).toEqual(Object.values(EXIT_CODES));
  });
  test("the errors and constants that carry a code take it from the table", () => {
    expect(new GuardError("x").exitCode).toBe(EXIT_CODES.guard);
    expect(new FatalError("x").exitCode).toBe(EXIT_CODES.failed);
    expect(new StagingDiskError("x").exitCode).toBe(EXIT_CODES.failed);
    expect(FENCED_EXIT_CODE).toBe(EXIT_CODES.fenced);
    expect(LOCKED_EXIT_CODE).toBe(EXIT_CODES.locked);
  });
});

describe("errors carry their kind as types, never as message text", () => {
  const enospc = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
  const scope = { side: "source (h)", sasEnv: "SRC_SAS", operation: 'read blobs in "c"', doing: 'pulling "c"', stagingDir: "/s", consequence: "nothing was deleted" };
  test.each([
    ["a FatalError", "fatal", new FatalError("staging disk words in a message do not matter"), FatalError],
    ["a 403 from the service", "fatal", Object.assign(new Error("denied"), { statusCode: 403 }), FatalError],
    ["ENOSPC on the staging disk", "fatal", enospc, StagingDiskError],
    ["EIO on the staging disk", "fatal", Object.assign(new Error("i/o"), { code: "EIO" }), StagingDiskError],
    ["a 503 from the service", "retryable", Object.assign(new Error("busy"), { statusCode: 503 }), undefined],
    ["a connection reset", "retryable", Object.assign(new Error("reset"), { code: "ECONNRESET" }), undefined],
    ["a 400 for one blob", "item", Object.assign(new Error("bad"), { statusCode: 400 }), undefined],
    ["a damaged staged copy", "item", new Error("staged copy is damaged"), undefined],
  ] as const)("%s is %s", (_what, kind, err, fatalType) => {
    expect(kindOf(err)).toBe(kind);
    const fatal = fatalOf(err, scope);
    if (fatalType) expect(fatal).toBeInstanceOf(fatalType);
    else expect(fatal).toBeUndefined();
  });
  test("only a failing staging disk stops the whole run (StagingDiskError), whatever a message says", () => {
    expect(fatalOf(enospc, scope)).toBeInstanceOf(StagingDiskError);
    expect(new FatalError("staging disk: not really") instanceof StagingDiskError).toBe(false);
    expect(fatalOf(Object.assign(new Error("denied"), { statusCode: 403 }), scope)!.message).toMatch(/^source \(h\): the SAS in SRC_SAS .*; nothing was deleted$/);
  });
});

describe("a destination blob deleted between the listing and the push's delete", () => {
  test("counts as deleted: nothing to keep in the target versions, no failure, no retries", async () => {
    // Found in review: keeping it in the versions failed with 404 CannotVerifyCopySource, retried as transient,
    // then the deletion failed.
    const container = "gone-meanwhile";
    const versions = new TargetVersions(ctx.dst, "dr-sync-versions", "executor-test", () => new Date());
    const withVersions: SyncContext = { ...ctx, versions };
    await seed(drill.sites.target, container, [{ name: "old.txt", body: "kept at the DR site" }]);
    const listed = await listOne(ctx.dst.container(container), container, "old.txt", { side: "target", sasEnv: "X", missing: "empty" });
    await drill.sites.target.container(container).deleteBlob("old.txt");
    const store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
    try {
      const records = new PushRecords(store.rows, ctx.dstKey);
      // A blob our push wrote (so the target's copy is not first kept in the retention area as someone else's).
      records.written("old.txt", { srcEtag: "0x1", dstEtag: listed!.etag });
      const stats = newHopStats();
      await storageExecutor(withVersions, container, store).deleteAtDestination(records, listed!, stats);
      expect(stats.versionsKept).toBe(0);
      expect(records.get("old.txt")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  test("another 404 of the version copy (the versions container deleted during the run) fails the deletion: nothing goes unkept", async () => {
    const container = "versions-gone";
    const versionsContainer = "versions-deleted-midrun";
    const versions = new TargetVersions(ctx.dst, versionsContainer, "executor-test", () => new Date());
    await seed(drill.sites.target, container, [{ name: "first.txt", body: "1" }, { name: "second.txt", body: "2" }]);
    const listed = async (name: string) => (await listOne(ctx.dst.container(container), container, name, { side: "target", sasEnv: "X", missing: "empty" }))!;
    const store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
    try {
      const records = new PushRecords(store.rows, ctx.dstKey);
      const exec = storageExecutor({ ...ctx, versions }, container, store);
      const first = await listed("first.txt");
      records.written("first.txt", { srcEtag: "0x1", dstEtag: first.etag });
      await exec.deleteAtDestination(records, first, newHopStats());
      // The run created the versions container once; someone deletes it.
      await drill.sites.target.container(versionsContainer).delete();
      const second = await listed("second.txt");
      records.written("second.txt", { srcEtag: "0x1", dstEtag: second.etag });
      await expect(exec.deleteAtDestination(records, second, newHopStats())).rejects.toThrow(/does not exist|ContainerNotFound/);
      expect(await drill.sites.target.container(container).getBlobClient("second.txt").exists()).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("the target versions' index across the service's midnight", () => {
  test("each kept version is indexed under its own day, so a purge takes a version and its index line together", async () => {
    // Found in review: a run's index stayed under the day of its first line, so the versions kept after midnight
    // lost their index lines a day before the versions themselves were purged.
    const container = "midnight";
    let now = new Date("2026-12-01T23:59:59.000Z");
    const versions = new TargetVersions(ctx.dst, "dr-sync-versions", "midnight-test", () => now);
    await seed(drill.sites.target, container, [{ name: "a.txt", body: "a" }, { name: "b.txt", body: "b" }]);
    const listed = async (name: string) => (await listOne(ctx.dst.container(container), container, name, { side: "target", sasEnv: "X", missing: "empty" }))!;
    const before = await versions.keep(container, await listed("a.txt"), "overwritten by a push");
    now = new Date("2026-12-02T00:00:01.000Z");
    const after = await versions.keep(container, await listed("b.txt"), "overwritten by a push");
    expect(before.version).toContain("/2026-12-01/");
    expect(after.version).toContain("/2026-12-02/");
    const linesByDay: Record<string, string[]> = {};
    for (const day of ["2026-12-01", "2026-12-02"]) {
      for await (const b of drill.sites.target.container("dr-sync-versions").listBlobsFlat({ prefix: `i/${container}/${day}/` })) {
        const text = (await drill.sites.target.container("dr-sync-versions").getBlobClient(b.name).downloadToBuffer()).toString();
        linesByDay[day] = [...(linesByDay[day] ?? []), ...text.trim().split("\n").map((l) => JSON.parse(l).name)];
      }
    }
    expect(linesByDay).toEqual({ "2026-12-01": ["a.txt"], "2026-12-02": ["b.txt"] });
    // Purged a day later by a clock on 2026-12-09 with 7 days kept: the first day goes whole, the second stays whole.
    await versions.purge(container, 7, new Date("2026-12-09T12:00:00.000Z"));
    const left: string[] = [];
    await versions.eachEntry(container, "", () => true, (e) => left.push(e.name));
    expect(left).toEqual(["b.txt"]);
  });
});
