import { parseArgs, UsageError } from "../runtime/src/cli/args";
import { objectKey, objectStem, siteKey, dataFileName } from "../runtime/src/staging/object-path";
import { Redactor } from "../runtime/src/report/redact";
import { Events, JsonLineSink, Level, MemorySink } from "../runtime/src/report/events";
import { formatBytes, formatDuration, formatProgress, ProgressBarSink } from "../runtime/src/report/progress";
import { describeError, explainAuthFailure, isConditionFailed, isTransient } from "../runtime/src/storage/errors";
import { jsonPlanSink, PlanSink, textPlanSink } from "../runtime/src/report/plan-output";
import { jsonVerifySink, textVerifySink } from "../runtime/src/report/verify-output";
import { jsonAsOfSink, textAsOfSink } from "../runtime/src/report/as-of-output";
import type { AsOfSummary } from "../runtime/src/sync/restore-as-of";
import type { PitAction } from "../runtime/src/versions/point-in-time";
import type { Difference, VerifySummary } from "../runtime/src/verify/verify";
import { ItemAction } from "../runtime/src/sync/context";
import { ServiceClock } from "../runtime/src/sync/service-clock";
import { listingStart } from "../runtime/src/listing/blob-lister";
import { pieces } from "../runtime/src/transfer/blob-to-file";
import { OrderedFileMd5 } from "../runtime/src/transfer/ordered-file-md5";
import { aheadBlockPrefix, BLOCK_ID_CHARS, blockId, blockSizeFor, MAX_BLOCKS } from "../runtime/src/transfer/blocks-ahead";
import { takeBatch } from "../runtime/src/versions/target-versions";
import { md5OfBlocks, md5OfFile, md5OfRange, md5OfRanges } from "../runtime/src/transfer/file-hash";
import { WORKER_HASH_MIN_BYTES } from "../runtime/src/transfer/hash-worker";
import { normalizeEtag } from "../runtime/src/model/blob";
import { forEachLimited, WorkPool } from "../runtime/src/transfer/pool";
import { encodeBlobName } from "../runtime/src/storage/site-client";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StagedEntry } from "../runtime/src/model/blob";
import { RetentionArea } from "../runtime/src/staging/retention";
import { listKept, newestFirstKey } from "../runtime/src/sync/list-kept";
import { SortSpool } from "../runtime/src/index/sort-spool";
import { jsonKeptSink, textKeptSink } from "../runtime/src/report/kept-output";

describe("command line", () => {
  it.each([
    [["run", "--config", "c.json"], { command: "run", config: "c.json", json: false }],
    [["verify", "--config=c.json", "--deep", "--json"], { command: "verify", deep: true, json: true }],
    [["run", "--config", "c", "--allow-mass-delete", "images", "--allow-mass-delete", "*"], { allowMassDelete: ["images", "*"] }],
    [["retention", "list", "--config", "c", "--container", "images"], { command: "retention", subcommand: "list", container: "images" }],
    [["restore", "--config", "c", "--container", "x", "--blob", "a/b", "--to", "source"], { to: "source", blob: "a/b" }],
    [["restore", "--config", "c", "--container", "x", "--blob=--x", "--allow-active-site"], { blob: "--x", allowActiveSite: true }],
    [["restore", "--config=c", "--container", "x", "--blob=a=b"], { blob: "a=b", config: "c" }],
    [[], { command: "help" }],
    [["version"], { command: "version" }],
  ])("%j", (argv, expected) => {
    expect(parseArgs(argv)).toMatchObject(expected);
  });

  it.each([
    [["sync"], /unknown command "sync"/],
    [["run"], /run needs --config <file>/],
    [["run", "--config"], /--config needs a value/],
    [["run", "--config", "c", "--fast"], /unknown option "--fast"/],
    [["restore", "--config", "c", "--container", "x"], /restore needs --container and either --blob NAME or --as-of TIME/],
    [["run", "--config", "c", "--log-level", "loud"], /--log-level must be/],
    [["restore", "--config", "c", "--container", "x", "--blob", "b", "--to", "moon"], /--to must be "source" or "target"/],
    [["restore", "--config", "c", "--container", "x", "--blob", "--x"], /--blob needs a value \(for a value that starts with "--", write --blob=--x\)/],
    [["run", "--config", "c", "--json=yes"], /--json takes no value/],
  ])("%j is a usage error", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe("staging paths", () => {
  const hostile = ["../../etc/passwd", "a/../../b", "a\\..\\b", "/abs", "CON", "x".repeat(1024), "é", "e\u0301", "", ".", ".."];
  it.each(hostile.map((n) => [JSON.stringify(n).slice(0, 40), n]))("%s maps to a flat hex key", (_l, name) => {
    expect(objectStem(name)).toMatch(/^objects\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
    expect(dataFileName(name, "0x1")).toMatch(/^[0-9a-f]{64}\.[0-9a-f]{16}\.bin$/);
  });

  test("names differing only by case or Unicode normalization never collide", () => {
    const names = ["Readme", "README", "readme", "caf\u00e9", "cafe\u0301"];
    expect(new Set(names.map(objectKey)).size).toBe(names.length);
  });

  test("each source version gets its own data file", () => {
    expect(dataFileName("a", "0x1")).not.toBe(dataFileName("a", "0x2"));
  });

  it.each([
    ["https://krsource.blob.east.example.com/", "krsource.blob.east.example.com"],
    ["http://127.0.0.1:10000/source/", "127.0.0.1_10000_source"],
  ])("site key of %s", (endpoint, key) => {
    expect(siteKey(endpoint)).toBe(key);
  });

  test("blob names are encoded whole, so dot segments survive URL normalization", () => {
    expect(encodeBlobName("a/../b")).toBe("a%2F..%2Fb");
    expect(new URL(`http://h/c/${encodeBlobName("x/./y")}`).pathname).toBe("/c/x%2F.%2Fy");
    expect(encodeBlobName("100% #1?(x)")).toBe("100%25%20%231%3F%28x%29");
  });
});

describe("secrets", () => {
  const sas = "sv=2017-11-09&ss=b&srt=sco&sp=rl&se=2027-01-01T00%3A00%3A00Z&sig=AbCdEf%2BGhIjKlMn%3D";
  test("a registered SAS is removed in raw, decoded and encoded form", () => {
    const r = new Redactor();
    r.add("?" + sas);
    expect(r.redact(`url http://x/c?${sas} failed`)).toBe("url http://x/c?[REDACTED] failed");
    expect(r.redact(decodeURIComponent(sas))).toBe("[REDACTED]");
    expect(r.redact(encodeURIComponent(sas))).toBe("[REDACTED]");
  });

  test("an unknown signature is still hidden", () => {
    expect(new Redactor().redact("GET /c/b?sv=1&sig=zzzz%3D&se=1")).toBe("GET /c/b?sv=1&sig=[REDACTED]&se=1");
  });

  test("events pass through the redactor before any sink", () => {
    const r = new Redactor();
    r.add(sas);
    const sink = new MemorySink();
    new Events([sink], r).warn("x", `failed ${sas}`, { url: `http://h/?${sas}` });
    expect(JSON.stringify(sink.events)).not.toContain("AbCdEf");
  });

  test.each([
    // the sinks' levels, the levels emitted → what reaches the JSON lines, and whether the debug event was built
    [["info"], ["debug", "info", "warn"], ["info", "warn"], false],
    [["warn"], ["debug", "info", "error"], ["error"], false],
    [["debug"], ["debug", "info"], ["debug", "info"], true],
    [["warn", "debug"], ["debug", "warn"], ["warn"], true],
  ] as [Level[], Level[], Level[], boolean][])("sinks at %j given %j: the first sink shows %j; debug built: %s", (sinkLevels, emitted, shown, built) => {
    const lines: string[][] = sinkLevels.map(() => []);
    const sinks = sinkLevels.map((l, i) => new JsonLineSink((line) => lines[i].push(JSON.parse(line).level), l));
    let serialized = false;
    // A field that notices being serialized: an event below every sink's level must not be built at all.
    const probe = { toJSON: () => { serialized = true; return "x"; } };
    const events = new Events(sinks, new Redactor());
    for (const level of emitted) events.emit(level, "e", "m", level === "debug" ? { probe } : {});
    expect(lines[0]).toEqual(shown);
    expect(serialized).toBe(built);
  });

  test("auth failures name the side, the variable and the likely cause", () => {
    const err = { statusCode: 403, details: { errorCode: "AuthorizationPermissionMismatch", requestId: "r1" }, message: "This request is not authorized" };
    expect(explainAuthFailure("target site", "DR_TARGET_SAS", "delete blobs", err)).toBe(
      "target site: the SAS in DR_TARGET_SAS lacks the permission to delete blobs (HTTP 403 AuthorizationPermissionMismatch: This request is not authorized (request id r1))");
  });
});

describe("errors and ETags", () => {
  it.each([
    [{ statusCode: 503 }, true],
    [{ statusCode: 500 }, true],
    [{ statusCode: 429 }, true],
    [{ statusCode: 404 }, false],
    [{ statusCode: 403 }, false],
    [Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), true],
    [new Error("body truncated"), true],
    // The SDK's own stream retries ran out on bodies cut short: the whole blob is worth fetching again.
    [new Error("Data corruption failure: received less data than required and reached maxRetires limitation. Received data offset: 12, data needed offset: 13, retries: 3, max retries: 3"), true],
    [new Error("bad thing"), false],
    // A copy whose source the service could not reach this time, and one whose source is gone.
    [{ statusCode: 500, details: { errorCode: "CannotVerifyCopySource" } }, true],
    [{ statusCode: 404, details: { errorCode: "CannotVerifyCopySource" } }, false],
  ])("transient(%j) is %s", (err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });

  test("describeError keeps status, error code and request id", () => {
    expect(describeError({ statusCode: 412, details: { errorCode: "ConditionNotMet", requestId: "abc" }, message: "The condition specified using HTTP conditional header(s) is not met.\nRequestId:abc" }))
      .toBe("HTTP 412 ConditionNotMet: The condition specified using HTTP conditional header(s) is not met. (request id abc)");
  });

  it.each([["\"0x8D\"", "0x8D"], ["0x8D", "0x8D"], ["W/\"0x1\"", "0x1"]])("normalizeEtag(%s)", (raw, want) => {
    expect(normalizeEtag(raw)).toBe(want);
  });
});

describe("progress display", () => {
  test("shows counts, bytes, rate and ETA", () => {
    const line = formatProgress({ phase: "pull", container: "images", doneItems: 5, totalItems: 10, doneBytes: 5 * 1048576, totalBytes: 10 * 1048576, startedAt: 0 }, 5000);
    expect(line).toBe("pull images [############------------] 5/10 blobs 5.0 MiB/10.0 MiB 1.0 MiB/s ETA 5.0s");
  });

  it.each([[0, "0 B"], [1536, "1.5 KiB"], [3 * 1024 ** 3, "3.0 GiB"]])("formatBytes(%d)", (n, s) => expect(formatBytes(n)).toBe(s));
  it.each([[5, "5.0s"], [75, "1m15s"], [7300, "2h1m"]])("formatDuration(%d)", (n, s) => expect(formatDuration(n)).toBe(s));

  test("the bar redraws in place and prints warnings above it", () => {
    let out = "";
    let t = 0;
    const stream = { write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBarSink(stream, () => (t += 1000));
    bar.progress({ phase: "push", container: "c", doneItems: 1, totalItems: 2, doneBytes: 1, totalBytes: 2, startedAt: 0 });
    bar.emit({ level: "warn", event: "blob.failed", msg: "push of x failed" });
    bar.emit({ level: "debug", event: "blob.pushed", msg: "not shown" });
    bar.close();
    expect(out).toContain("push c [");
    expect(out).toContain("\r\x1b[2KWARN: push of x failed\n");
    expect(out).not.toContain("not shown");
  });
});

describe("bounded work", () => {
  test("the pool runs at most `concurrency` items and makes a fast producer wait when its queue is full", async () => {
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const pool = new WorkPool<number>(2, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((r) => releases.push(r));
      running--;
    }, 3);
    let added = 0;
    const producer = (async () => {
      for (let i = 0; i < 10; i++) {
        await pool.add(i);
        added++;
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    // Two running, three queued: the producer is held at the sixth item instead of queueing all ten.
    expect(added).toBe(5);
    while (added < 10 || running > 0) {
      releases.splice(0).forEach((r) => r());
      await new Promise((r) => setTimeout(r, 1));
    }
    await producer;
    await pool.drain();
    expect(peak).toBe(2);
  });

  test("forEachLimited keeps to its limit and reports the first failure after the rest settle", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await expect(forEachLimited([1, 2, 3, 4, 5], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (n === 2) throw new Error("two failed");
      done.push(n);
    })).rejects.toThrow("two failed");
    expect(peak).toBe(2);
    expect(running).toBe(0);
  });
});

describe("the service's clock", () => {
  // The first page arrived at monotonic 1000 ms; the table's wall and monotonic readings are taken later.
  const start = (local: string, date: string) => ({ serviceTime: new Date(date), date: new Date(date), localTime: new Date(local), monotonicMs: 1000 });
  it.each([
    ["unknown: the VM's own time", null, undefined, "2026-12-01T10:00:00Z", 1000, "2026-12-01T10:00:00.000Z", false],
    ["last run's skew until a listing", 3600, undefined, "2026-12-01T10:00:00Z", 1000, "2026-12-01T09:00:00.000Z", false],
    ["VM 10 days behind, measured", null, start("2026-12-01T10:00:00.5Z", "2026-12-11T10:00:00Z"), "2026-12-01T10:00:00.5Z", 1000, "2026-12-11T10:00:00.500Z", true],
    ["VM 3 hours ahead, measured over an old skew", -60, start("2026-12-01T10:00:00Z", "2026-12-01T07:00:00Z"), "2026-12-01T10:00:00Z", 1000, "2026-12-01T07:00:00.500Z", true],
    ["measured, then 2 minutes pass", null, start("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"), "2026-12-01T10:02:00Z", 1000 + 120e3, "2026-12-01T10:02:00.500Z", true],
    // An NTP step between the last listing and the purges: the wall clock says 40 days later, 2 s passed.
    ["measured, then the wall clock steps 40 days ahead", null, start("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"), "2027-01-10T10:00:02Z", 3000, "2026-12-01T10:00:02.500Z", true],
    ["measured, then the wall clock steps 3 days back", null, start("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"), "2026-11-28T10:00:02Z", 3000, "2026-12-01T10:00:02.500Z", true],
  ] as const)("%s", (_what, previous, observed, wallLater, monotonicLater, expected, measured) => {
    let wall = observed ? observed.localTime : new Date(wallLater);
    let mono = 1000;
    const clock = new ServiceClock(() => wall, previous, () => mono);
    if (observed) clock.observe(observed);
    wall = new Date(wallLater);
    mono = monotonicLater;
    expect(clock.now().toISOString()).toBe(expected);
    expect(clock.measured).toBe(measured);
    if (observed) expect(clock.skewSeconds).toBeCloseTo((observed.localTime.getTime() - observed.date.getTime() - 500) / 1000);
  });

  it.each([
    ["a 300 ms round trip", "2026-12-01T10:00:05Z", 100, 400, "2026-12-01T10:00:04.700Z"],
    ["no Date header: the local time, less the round trip", undefined, 100, 400, "2026-12-01T09:59:59.700Z"],
    // The wall clock stepped back during the request: the round trip is still the monotonic 300 ms, never negative.
    ["a wall-clock step during the request does not move it", "2026-12-01T10:00:05Z", 5000, 5300, "2026-12-01T10:00:04.700Z"],
  ] as const)("the listing's start: %s", (_what, date, sent, arrived, expected) => {
    const s = listingStart(date === undefined ? undefined : new Date(date), sent, arrived, new Date("2026-12-01T10:00:00Z"));
    expect(s.serviceTime.toISOString()).toBe(expected);
    expect(s.monotonicMs).toBe(arrived);
  });
});

describe("ranges", () => {
  it.each([
    [[[0, 10]], 4, [[0, 4], [4, 4], [8, 2]]],
    [[[0, 512], [4096, 1024]], 512, [[0, 512], [4096, 512], [4608, 512]]],
    [[], 4, []],
  ] as const)("pieces(%j, %d)", (ranges, size, expected) => {
    expect(pieces(ranges as unknown as [number, number][], size)).toEqual(expected);
  });
});

describe("conditional writes", () => {
  it.each([
    [{ statusCode: 412, details: { errorCode: "ConditionNotMet" } }, true],
    [{ statusCode: 409, details: { errorCode: "BlobAlreadyExists" } }, true],
    [{ statusCode: 409, details: { errorCode: "InvalidBlobType" } }, false],
    [{ statusCode: 404 }, false],
    // A lease is not a change of the blob: no re-read cures it.
    [{ statusCode: 412, details: { errorCode: "LeaseIdMissing" } }, false],
    [{ statusCode: 412, details: { errorCode: "LeaseIdMismatchWithBlobOperation" } }, false],
    [{ statusCode: 409, details: { errorCode: "LeaseAlreadyPresent" } }, false],
  ])("%j is a changed destination: %s", (err, expected) => {
    expect(isConditionFailed(err)).toBe(expected);
  });
});

describe("plan output, streamed", () => {
  type Call = ["begin", string] | ["action", "pull" | "push", ItemAction] | ["end", { guardStops?: string[]; error?: string }];
  const copy = (name: string): ItemAction => ({ name, action: "copy", reason: "missing at destination", size: 1 });
  const del = (name: string): ItemAction => ({ name, action: "delete", reason: "not in source" });
  const drive = (sink: PlanSink, calls: Call[]) => {
    for (const c of calls) {
      if (c[0] === "begin") sink.begin(c[1]);
      else if (c[0] === "action") sink.action(c[1], c[2]);
      else sink.end(c[1]);
    }
    sink.close();
  };
  const cases: [string, Call[], unknown][] = [
    ["no containers", [], { containers: [] }],
    ["nothing to do", [["begin", "a"], ["end", {}]], { containers: [{ container: "a", pull: [], push: [] }] }],
    ["push actions only", [["begin", "a"], ["action", "push", del("x")], ["end", {}]], { containers: [{ container: "a", pull: [], push: [del("x")] }] }],
    ["both hops, two containers, a guard stop", [["begin", "a"], ["action", "pull", copy("x")], ["action", "pull", del("y")], ["action", "push", copy("x")], ["end", { guardStops: ["too many"] }],
      ["begin", "b"], ["action", "pull", copy("\u{1F600}\"q")], ["end", {}]],
    { containers: [{ container: "a", pull: [copy("x"), del("y")], push: [copy("x")], guardStops: ["too many"] }, { container: "b", pull: [copy("\u{1F600}\"q")], push: [] }] }],
    ["an error after some actions", [["begin", "a"], ["action", "pull", copy("x")], ["end", { error: "boom" }]], { containers: [{ container: "a", pull: [copy("x")], push: [], error: "boom" }] }],
  ];
  it.each(cases)("JSON: %s is one parseable document of every action", (_, calls, expected) => {
    let text = "";
    drive(jsonPlanSink((s) => { text += s; }), calls);
    expect(JSON.parse(text)).toEqual(expected);
  });

  test("text: counts, guard stops and the first actions of each hop, the rest counted", () => {
    const lines: string[] = [];
    drive(textPlanSink((l) => lines.push(l), 2), [["begin", "a"], ["action", "pull", copy("1")], ["action", "pull", copy("2")], ["action", "pull", copy("3")],
      ["action", "push", del("4")], ["end", { guardStops: ["stop"] }], ["begin", "b"], ["end", { error: "unreadable" }]]);
    expect(lines).toEqual([
      "a: pull 3 copy, 0 delete; push 0 copy, 0 adopt, 1 delete",
      "  run would stop here: stop",
      '  pull copy "1": missing at destination',
      '  pull copy "2": missing at destination',
      "  ... 1 more pull actions (--json lists all)",
      '  push delete "4": not in source',
      "b: cannot plan: unreadable",
    ]);
  });
});

describe("verify's output, written as the differences are found", () => {
  const d = (name: string, problem = "missing at target", container = "c"): Difference => ({ container, name, problem });
  const summary = (counts: [string, number][]): VerifySummary => ({
    containers: counts.map(([container, differences]) => ({ container, source: 3, target: 3 - differences, compared: 3 - differences, differences })),
    differenceCount: counts.reduce((s, [, n]) => s + n, 0), ok: counts.every(([, n]) => n === 0),
  });
  const cases: [string, Difference[], VerifySummary][] = [
    ["in sync", [], summary([["c", 0]])],
    ["one difference", [d("a")], summary([["c", 1]])],
    ["names that need escaping, two containers", [d("\u{1F600}\"q\n"), d("", "container missing at target", "e"), d("x", "only at target", "e")], summary([["c", 1], ["e", 2]])],
  ];
  it.each(cases)("JSON: %s is one parseable document with every difference and the counts", (_, diffs, v) => {
    let text = "";
    const sink = jsonVerifySink((s) => { text += s; });
    for (const x of diffs) sink.add(x);
    sink.close(v);
    expect(JSON.parse(text)).toEqual({ ...v, differences: diffs });
  });

  test("text: the first differences as found, the rest counted, then a line per container and the verdict", () => {
    const lines: string[] = [];
    const sink = textVerifySink((l) => lines.push(l), 2);
    for (const x of [d("a"), d("", "container missing at target", "e"), d("b", "only at target", "e")]) sink.add(x);
    sink.close(summary([["c", 1], ["e", 2]]));
    expect(lines).toEqual([
      '  c/"a": missing at target',
      "  e/*: container missing at target",
      "  ... 1 more (--json lists all)",
      "c: 3 at source, 2 at target, 1 difference(s)",
      "e: 3 at source, 1 at target, 2 difference(s)",
      "verify: 3 difference(s)",
    ]);
    const quiet: string[] = [];
    textVerifySink((l) => quiet.push(l)).close(summary([["c", 0]]));
    expect(quiet).toEqual(["c: 3 at source, 3 at target, 0 difference(s)", "verify: target matches source"]);
  });
});

describe("restore --as-of's output, written as the plan is walked and applied", () => {
  const keep = (name: string): PitAction => ({ name, action: "keep", reason: "unchanged since 09:00" });
  const cur = (name: string) => ({ name, etag: "0x1", size: 1, lastModified: "2026-12-01T10:00:00.000Z", kind: "BlockBlob" as const, props: {}, metadata: {} });
  const remove = (name: string): PitAction => ({ name, action: "remove", reason: "created after 09:00", current: cur(name) });
  const summary = (actions: PitAction[], applied: boolean, failedCount = 0): AsOfSummary => ({
    container: "ledger", asOf: "2026-12-01T09:00:00.000Z", to: "target", applied, failedCount,
    counts: { restore: 0, remove: actions.filter((a) => a.action === "remove").length, keep: actions.filter((a) => a.action === "keep").length },
  });
  const cases: [string, PitAction[], { name: string; error: string }[], boolean][] = [
    ["an empty container, planned", [], [], false],
    ["a plan, not applied", [keep("a"), remove("b\u{1F600}\"")], [], false],
    ["applied with failures", [remove("a"), remove("b")], [{ name: "a", error: "changed at target during the restore" }], true],
    ["applied, every change failed, nothing kept", [remove("a")], [{ name: "a", error: "x" }], true],
  ];
  it.each(cases)("JSON: %s is one parseable document with every action and failure, then the counts", (_, actions, failures, applied) => {
    let text = "";
    const sink = jsonAsOfSink((t) => { text += t; });
    for (const a of actions) sink.action(a);
    for (const f of failures) sink.failed(f.name, f.error);
    const r = summary(actions, applied, failures.length);
    sink.close(r);
    expect(JSON.parse(text)).toEqual({ ...r, actions, failed: failures });
  });

  test("text: the counts, the first changes and failures, the rest counted, the verdict", () => {
    const lines: string[] = [];
    const sink = textAsOfSink((l) => lines.push(l), 1);
    const actions = [keep("k"), remove("a"), remove("b")];
    for (const a of actions) sink.action(a);
    sink.failed("a", "boom");
    sink.failed("b", "bang");
    sink.close(summary(actions, true, 2));
    expect(lines).toEqual([
      "ledger at target as of 2026-12-01T09:00:00.000Z: 0 to restore, 2 to remove, 1 unchanged",
      '  remove "a": created after 09:00',
      "  ... 1 more (--json lists all)",
      '  failed: "a": boom',
      "  ... 1 more failed (--json lists all)",
      "restore: 2 blob(s) failed; run it again",
    ]);
  });
});

describe("file hashes read through one buffer", () => {
  const { mkdtempSync, writeFileSync, rmSync } = require("node:fs") as typeof import("node:fs");
  const { join } = require("node:path") as typeof import("node:path");
  const { createHash, randomBytes } = require("node:crypto") as typeof import("node:crypto");
  const dir = mkdtempSync(join(require("node:os").tmpdir(), "file-hash-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const md5 = (b: Buffer) => createHash("md5").update(b).digest("base64");

  test.each([
    // file size, block size: past the 1 MiB read buffer, a block that ends mid-buffer, a short last block, empty
    [2.5 * 1048576, 1048576 + 7],
    [3 * 1048576, 1048576],
    [100, 8 * 1048576],
    [0, 4],
    // From WORKER_HASH_MIN_BYTES up, on a hashing thread (hash-worker.ts): the same answers.
    [WORKER_HASH_MIN_BYTES, 4 * 1048576],
    [WORKER_HASH_MIN_BYTES + 12345, 3 * 1048576 + 1],
  ])("%i bytes in blocks of %i: the whole MD5 and every block's, as hashing each slice", (size, blockSize) => {
    const bytes = randomBytes(size);
    const path = join(dir, `f-${size}-${blockSize}`);
    writeFileSync(path, bytes);
    const expected: string[] = [];
    for (let o = 0; o < size; o += blockSize) expected.push(md5(bytes.subarray(o, Math.min(size, o + blockSize))));
    return Promise.all([md5OfBlocks(path, size, blockSize), md5OfFile(path), md5OfRange(path, 3, Math.max(0, size - 5))]).then(([b, whole, range]) => {
      expect(b).toEqual({ whole: md5(bytes), blocks: expected });
      expect(whole).toBe(md5(bytes));
      expect(range).toBe(md5(bytes.subarray(3, 3 + Math.max(0, size - 5))));
    });
  });

  test("page ranges are hashed in order, holes skipped; a file shorter than its ranges hashes what is there", async () => {
    const bytes = randomBytes(3 * 1048576);
    const path = join(dir, "pages");
    writeFileSync(path, bytes);
    const ranges: [number, number][] = [[512, 1024], [1048576, 2 * 1048576], [3 * 1048576 - 512, 512]];
    expect(await md5OfRanges(path, ranges)).toBe(md5(Buffer.concat(ranges.map(([o, l]) => bytes.subarray(o, o + l)))));
    expect(await md5OfRanges(path, [[3 * 1048576 - 10, 100]])).toBe(md5(bytes.subarray(3 * 1048576 - 10)));
    expect(await md5OfRanges(path, [])).toBe(md5(Buffer.alloc(0)));
  });

  test("on a hashing thread: page ranges in order, a short file, and a missing file's error with its code", async () => {
    const size = WORKER_HASH_MIN_BYTES + 2 * 1048576;
    const bytes = randomBytes(size);
    const path = join(dir, "big-pages");
    writeFileSync(path, bytes);
    const ranges: [number, number][] = [[512, 1024], [1048576, WORKER_HASH_MIN_BYTES], [size - 512, 512]];
    expect(await md5OfRanges(path, ranges)).toBe(md5(Buffer.concat(ranges.map(([o, l]) => bytes.subarray(o, o + l)))));
    expect(await md5OfRanges(path, [[size - 10, WORKER_HASH_MIN_BYTES]])).toBe(md5(bytes.subarray(size - 10)));
    // Several at once: on a free thread or on this one, each gets its own answer.
    const many = await Promise.all([0, 1, 2, 3].map((i) => md5OfBlocks(path, size - i, 1048576)));
    expect(many.map((m) => m.whole)).toEqual([0, 1, 2, 3].map((i) => md5(bytes.subarray(0, size - i))));
    await expect(md5OfBlocks(join(dir, "missing"), size, 1048576)).rejects.toMatchObject({ code: "ENOENT" });
    // And the pool still answers after a failure.
    expect((await md5OfBlocks(path, size, 4 * 1048576)).whole).toBe(md5(bytes));
  });
});

describe("a file written in ranges that land out of order, hashed in file order as they land", () => {
  const { createHash, randomBytes } = require("node:crypto") as typeof import("node:crypto");
  const { open } = require("node:fs/promises") as typeof import("node:fs/promises");
  const md5 = (b: Buffer) => createHash("md5").update(b).digest("base64");
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "ordered-md5-")); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    // size, range size, the order the ranges land in (each written just before it lands)
    [10 * 1024 + 3, 1024, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    [10 * 1024 + 3, 1024, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    [10 * 1024, 1024, [3, 1, 0, 2, 9, 4, 8, 5, 7, 6]],
    [3 * 1048576 + 1, 1048576, [1, 3, 0, 2]],
    [5, 1048576, [0]],
  ])("%i bytes in ranges of %i landing as %j: the MD5 of the whole file", async (size, rangeSize, order) => {
    const bytes = randomBytes(size);
    const fh = await open(join(dir, `f-${size}-${order.join("")}`), "w+");
    try {
      const hasher = new OrderedFileMd5(fh, size, rangeSize, order.length);
      const landing: Promise<void>[] = [];
      for (const i of order) {
        const part = bytes.subarray(i * rangeSize, Math.min(size, (i + 1) * rangeSize));
        await fh.write(part, 0, part.length, i * rangeSize);
        // Not awaited, as the download does: ranges land while earlier ones are being read back.
        landing.push(hasher.landedRange(i));
      }
      await Promise.all(landing);
      expect(await hasher.digest()).toBe(md5(bytes));
    } finally {
      await fh.close();
    }
  });

  test("a range that never landed, or is short on disk, is an error, not a wrong MD5", async () => {
    const fh = await open(join(dir, "short"), "w+");
    try {
      await fh.write(Buffer.alloc(1024, 1), 0, 1024, 0);
      const missing = new OrderedFileMd5(fh, 3072, 1024, 3);
      await missing.landedRange(0);
      await missing.landedRange(2);
      await expect(missing.digest()).rejects.toThrow(/only 1 of 3 ranges were hashed/);
      const short = new OrderedFileMd5(fh, 3072, 1024, 3);
      await expect(Promise.all([0, 1, 2].map((i) => short.landedRange(i)))).rejects.toThrow(/range at offset 1024 is short on disk/);
      await expect(short.digest()).rejects.toThrow(/short on disk/);
    } finally {
      await fh.close();
    }
  });
});

describe("block IDs", () => {
  test("all 13 characters before base64; blocks sent ahead get a prefix per source version, never the upload's", () => {
    const lengths = new Set([blockId("drsync-", 0), blockId("drsync-", 49_999), blockId(aheadBlockPrefix("a", "0x1"), 7)].map((id) => Buffer.from(id, "base64").length));
    expect([...lengths]).toEqual([BLOCK_ID_CHARS]);
    expect(Buffer.from(blockId("drsync-", 42), "base64").toString()).toBe("drsync-000042");
    const p = aheadBlockPrefix("big.bin", "0x8D1");
    expect(p).toHaveLength(7);
    expect(p).toBe(aheadBlockPrefix("big.bin", "0x8D1"));
    expect(new Set([p, aheadBlockPrefix("big.bin", "0x8D2"), aheadBlockPrefix("big.bin2", "0x8D1")]).size).toBe(3);
    expect(p.startsWith("d")).toBe(false);
  });

  const MiB = 1024 * 1024;
  test.each([
    ["fits the configured size", 10 * MiB, 8 * MiB, 8 * MiB],
    ["exactly 50,000 configured blocks", 50_000 * MiB, MiB, MiB],
    ["one byte more: the next whole MiB", 50_000 * MiB + 1, MiB, 2 * MiB],
    ["60 GiB at 1 MiB: 2 MiB blocks (30,720 of them)", 60 * 1024 * MiB, MiB, 2 * MiB],
    ["the largest blob 2017-11-09 holds: 100 MiB blocks", 50_000 * 100 * MiB, 8 * MiB, 100 * MiB],
  ])("a block blob's upload block size: %s", (_case, size, configured, expected) => {
    expect(blockSizeFor(size, configured)).toBe(expected);
    expect(Math.ceil(size / expected)).toBeLessThanOrEqual(MAX_BLOCKS);
  });

  test("a block blob no block list can hold is refused before anything is sent, saying why", () => {
    expect(() => blockSizeFor(50_000 * 100 * MiB + 1, 8 * MiB)).toThrow(/needs more than 50000 blocks of 100 MiB, the most service version 2017-11-09 allows/);
  });
});

describe("kept versions' index lines are appended in batches", () => {
  const lines = (...sizes: number[]) => sizes.map((n, i) => ({ line: `${i}`.padEnd(n, "x") }));
  test.each([
    // line sizes, the batch limit → the batch taken, what is left
    [[10, 10, 10], 25, 2, 1],
    [[10, 10, 10], 30, 3, 0],
    [[40, 10], 25, 1, 1], // a line over the limit still goes, alone
    [[5], 1024, 1, 0],
    [[], 10, 0, 0],
  ])("lines of %j, at most %i bytes: %i taken, %i left", (sizes, max, taken, left) => {
    const q = lines(...sizes);
    const all = [...q];
    const batch = takeBatch(q, max);
    expect(batch).toEqual(all.slice(0, taken));
    expect(q).toEqual(all.slice(taken));
    expect(left).toBe(q.length);
  });
});


/** A staged entry as the retention area's tests keep it (the bytes come from the file they pass). */
const staged = (name: string, size = 10): StagedEntry => ({
  name, srcEtag: `"0x${name.length}"`, size, lastModified: "2026-11-01T00:00:00.000Z", kind: "BlockBlob", props: {}, metadata: {}, dataFile: "x.bin",
});

describe("retention list, sorted on the staging disk", () => {

  test.each([
    // A key sorts newest first, ties in the order found, and a time that does not parse after every real one.
    ["2026-12-01T10:00:00.001Z", 0, "2026-12-01T10:00:00.000Z", 0, -1],
    ["2026-12-01T10:00:00.000Z", 1, "2026-12-01T10:00:00.000Z", 2, -1],
    ["2026-12-01T10:00:00.000Z", 5, "not a time", 0, -1],
    ["1970-01-01T00:00:00.000Z", 0, "2026-01-01T00:00:00.000Z", 0, 1],
  ])("%s (#%i) before %s (#%i): %i", (a, sa, b, sb, sign) => {
    expect(Math.sign(newestFirstKey(a, sa).localeCompare(newestFirstKey(b, sb)))).toBe(sign);
    expect(newestFirstKey(a, sa) < newestFirstKey(b, sb)).toBe(sign < 0);
  });

  test("the sort spool gives items back in key order, ties in the order added, across page and batch boundaries", () => {
    const dir = mkdtempSync(join(tmpdir(), "spool-"));
    const spool = SortSpool.create<{ k: string; i: number }>(join(dir, "s.db"), 7, 50);
    // 1,000 items over 97 keys, added in a scrambled order: many ties, pages of 7, commits every 50.
    const items = Array.from({ length: 1000 }, (_, i) => ({ k: `k${String((i * 7919) % 97).padStart(3, "0")}`, i }));
    for (const it of items) spool.add(it.k, it);
    const expected = [...items].sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i));
    expect([...spool.sorted()]).toEqual(expected);
    // Read twice, the same; then closed.
    expect([...spool.sorted()].length).toBe(1000);
    spool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("copies across days, sites and containers come newest first, filtered, in text and JSON; the scratch index is removed", async () => {
    const root = mkdtempSync(join(tmpdir(), "kept-"));
    let now = Date.parse("2026-11-28T23:59:59.000Z");
    const area = new RetentionArea(root, () => new Date(now));
    const bin = join(root, "bytes");
    writeFileSync(bin, "x");
    // Kept out of time order, over three days, two sites, two containers; two copies in the same millisecond.
    const keeps: [number, string, string, string][] = [
      [Date.parse("2026-11-30T08:00:00.000Z"), "site-a", "images", "a/1"],
      [Date.parse("2026-11-28T23:59:59.000Z"), "site-a", "images", "a/2"],
      [Date.parse("2026-12-01T00:00:00.000Z"), "site-b", "docs", "d/1"],
      [Date.parse("2026-11-30T08:00:00.000Z"), "site-a", "docs", "d/2"],
      [Date.parse("2026-11-30T09:00:00.000Z"), "site-a", "images", "a/1"],
    ];
    for (const [t, site, container, name] of keeps) {
      now = t;
      await area.keep(site, container, staged(name), bin, "deleted at source");
    }
    // Skipped: a manifest cut short, and valid JSON of another shape.
    writeFileSync(join(root, "retention", "2026-11-30", "site-a", "images", "broken.json"), "{ cut short");
    writeFileSync(join(root, "retention", "2026-11-30", "site-a", "images", "null.json"), "null");
    writeFileSync(join(root, "retention", "2026-11-30", "site-a", "images", "other.json"), JSON.stringify({ retainedAt: "2026-11-30T10:00:00.000Z", entry: {} }));
    const run = async (filter: { container?: string; blob?: string }, json: boolean) => {
      const chunks: string[] = [];
      const n = await listKept({ stagingDir: root, retention: area, containers: [], ...filter },
        json ? jsonKeptSink((t) => chunks.push(t)) : textKeptSink((l) => chunks.push(l + "\n")));
      return { n, text: chunks.join("") };
    };
    const all = await run({}, true);
    const rows = JSON.parse(all.text) as { retainedAt: string; container: string; name: string; dataPath: string }[];
    expect(all.n).toBe(5);
    // The two of the same millisecond come in the order found: day, site, then container folders by name.
    expect(rows.map((r) => `${r.retainedAt} ${r.container}/${r.name}`)).toEqual([
      "2026-12-01T00:00:00.000Z docs/d/1",
      "2026-11-30T09:00:00.000Z images/a/1",
      "2026-11-30T08:00:00.000Z docs/d/2",
      "2026-11-30T08:00:00.000Z images/a/1",
      "2026-11-28T23:59:59.000Z images/a/2",
    ]);
    expect(rows.every((r) => r.dataPath.endsWith(".bin"))).toBe(true);
    expect((await run({ container: "images", blob: "a/1" }, false)).text.split("\n").filter(Boolean).map((l) => l.split(" ")[0]))
      .toEqual(["2026-11-30T09:00:00.000Z", "2026-11-30T08:00:00.000Z"]);
    expect(await run({ container: "nothing-here" }, false)).toEqual({ n: 0, text: "nothing is kept\n" });
    expect(await run({ container: "nothing-here" }, true)).toEqual({ n: 0, text: "[]\n" });
    // restore --blob picks from the same copies, newest first.
    expect((await area.list({ container: "images", name: "a/1" })).map((c) => c.retainedAt)).toEqual(["2026-11-30T09:00:00.000Z", "2026-11-30T08:00:00.000Z"]);
    expect(readdirSync(join(root, ".restore-tmp"))).toEqual([]);
    // A scratch folder whose process is gone is removed by the next listing; a live process's stays.
    mkdirSync(join(root, ".restore-tmp", "999999999-dead"), { recursive: true });
    mkdirSync(join(root, ".restore-tmp", `${process.pid}-alive`), { recursive: true });
    await run({}, false);
    expect(readdirSync(join(root, ".restore-tmp"))).toEqual([`${process.pid}-alive`]);
    rmSync(root, { recursive: true, force: true });
  });
});

describe("the retention area keeps every copy", () => {

  test("copies of one blob kept at the same instant (two runs within one second of the service's Date): none replaces another, each has its own time, the later newest", async () => {
    const root = mkdtempSync(join(tmpdir(), "kept-same-ms-"));
    const now = Date.parse("2026-12-03T09:25:22.512Z");
    const area = new RetentionArea(root, () => new Date(now));
    const versions = ["v1", "v2", "v3"];
    for (const v of versions) {
      const bin = join(root, `bytes-${v}`);
      writeFileSync(bin, v);
      await area.keep("site-a", "docs", staged("doc.txt"), bin, "overwritten by a newer source version");
    }
    const copies = await area.list({ container: "docs", name: "doc.txt" });
    expect(copies.map((c) => readFileSync(c.dataPath, "utf8"))).toEqual(["v3", "v2", "v1"]);
    expect(new Set(copies.map((c) => c.retainedAt)).size).toBe(3);
    expect(copies.at(-1)?.retainedAt).toBe("2026-12-03T09:25:22.512Z");
    rmSync(root, { recursive: true, force: true });
  });

  test("a data file left without its manifest by a crash is replaced, not kept beside", async () => {
    const root = mkdtempSync(join(tmpdir(), "kept-leftover-"));
    const now = Date.parse("2026-12-03T09:25:22.512Z");
    const area = new RetentionArea(root, () => new Date(now));
    const bin = join(root, "bytes");
    writeFileSync(bin, "kept");
    const first = await area.keep("site-a", "docs", staged("doc.txt"), bin, "deleted at source");
    // The crash came between the bytes and the manifest.
    rmSync(first!.replace(/\.bin$/, ".json"));
    rmSync(first!); // the kept file is a hard link to `bin`: a new file, not a write through the link
    writeFileSync(first!, "half");
    const second = await area.keep("site-a", "docs", staged("doc.txt"), bin, "deleted at source");
    expect(second).toBe(first);
    const copies = await area.list({ container: "docs", name: "doc.txt" });
    expect(copies.map((c) => [c.retainedAt, readFileSync(c.dataPath, "utf8")])).toEqual([["2026-12-03T09:25:22.512Z", "kept"]]);
    rmSync(root, { recursive: true, force: true });
  });
});
