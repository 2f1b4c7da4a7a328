// The benchmark's own logic, without any tool or Azurite: data generation, parsing, fidelity, stats, options,
// report and chart rendering.
import { compareContainers, BlobFacts } from "../bench/fidelity";
import { parseGnuTime } from "../bench/gnu-time";
import { parseProcStatCpu, processCpuSeconds } from "../bench/proc-cpu";
import { parseOptions, UsageError } from "../bench/options";
import { parseAzCopyJson, parseDrSyncStatus, parseRcloneJsonLog } from "../bench/peers/output-parsers";
import { redactor } from "../bench/peers/peer";
import { replaceGeneratedSection, BEGIN, END } from "../bench/docs-section";
import { AccessLogCounter, classifyRequest, parseAccessLine } from "../bench/request-counter";
import { consoleTable, fidelityCell, renderMarkdown } from "../bench/report";
import { BenchResult, PhaseRun, planWorkloads } from "../bench/run-bench";
import { ratio, summarize } from "../bench/stats";
import { checkTargets, summarizeRuns } from "../bench/summary";
import { escapeXml, formatValue, renderChart } from "../bench/svg-chart";
import { renderRssByCount, rssPoints } from "../bench/scale-chart";
import { blobBody, blobName, changeSet, generateBlobs, Shape, SHAPES } from "../bench/workload";

describe("generated data", () => {
  const blobs = generateBlobs(1000, 4096, "small");

  test("is the same on every call, with unique names", () => {
    expect(generateBlobs(1000, 4096, "small")).toEqual(blobs);
    expect(new Set(blobs.map((b) => b.name)).size).toBe(1000);
  });

  test("varies content types and metadata, including blobs without metadata", () => {
    expect(new Set(blobs.map((b) => b.contentType)).size).toBeGreaterThanOrEqual(5);
    expect(blobs.some((b) => Object.keys(b.metadata).length === 0)).toBe(true);
    expect(blobs.some((b) => Object.keys(b.metadata).length >= 3)).toBe(true);
  });

  test("bytes are deterministic per name and generation, and have the asked size", () => {
    const a = blobBody({ name: "x/y", size: 4099, gen: 0 });
    expect(a.length).toBe(4099);
    expect(blobBody({ name: "x/y", size: 4099, gen: 0 }).equals(a)).toBe(true);
    expect(blobBody({ name: "x/y", size: 4099, gen: 1 }).equals(a)).toBe(false);
    expect(blobBody({ name: "x/z", size: 4099, gen: 0 }).equals(a)).toBe(false);
  });

  test.each([
    [1000, 1, 10],
    [50, 1, 1],
    [5000, 1, 50],
    [200, 5, 10],
  ])("%i blobs, %d%% changed → %i changed, added and deleted, never overlapping", (n, percent, expected) => {
    const set = changeSet(generateBlobs(n, 16, "s"), percent, "s");
    expect(set.changed).toHaveLength(expected);
    expect(set.added).toHaveLength(expected);
    expect(set.deleted).toHaveLength(expected);
    const changed = new Set(set.changed.map((b) => b.name));
    expect(set.deleted.filter((d) => changed.has(d))).toEqual([]);
    expect(set.changed.every((b) => b.gen === 1)).toBe(true);
    const names = new Set(generateBlobs(n, 16, "s").map((b) => b.name));
    expect(set.added.filter((b) => names.has(b.name))).toEqual([]);
  });
});

describe("name layouts (shapes)", () => {
  const folderOf = (name: string) => (name.includes("/") ? name.slice(0, name.lastIndexOf("/") + 1) : "");

  test.each([
    ["nested", 0, "nested/00/00/item-0000000.json"],
    ["nested", 17, "nested/01/01/item-0000017"],
    ["folders", 0, "folders/folder-00/item-0000000.json"],
    ["folders", 151, "folders/folder-01/item-0000151.xml"],
    ["flat", 0, "flat-item-0000000.json"],
    ["flat", 4999, "flat-item-0004999.csv"],
  ] as [Shape, number, string][])("%s: blob %i is %s", (shape, i, name) => {
    expect(blobName(shape, shape, i)).toBe(name);
  });

  test.each([
    // shape, distinct folders at 5,000 blobs, most blobs in one folder
    ["nested", 1024, 5],
    ["folders", 50, 100],
    ["flat", 1, 5000],
  ] as [Shape, number, number][])("%s: 5,000 blobs fall into %i folder(s) of at most %i", (shape, folders, most) => {
    const blobs = generateBlobs(5000, 16, shape, 0, shape);
    const counts = new Map<string, number>();
    for (const b of blobs) counts.set(folderOf(b.name), (counts.get(folderOf(b.name)) ?? 0) + 1);
    expect(new Set(blobs.map((b) => b.name)).size).toBe(5000);
    expect(counts.size).toBe(folders);
    expect(Math.max(...counts.values())).toBe(most);
    if (shape === "flat") expect(blobs.every((b) => !b.name.includes("/"))).toBe(true);
  });

  test.each(SHAPES.map((s) => [s]))("%s: added blobs keep the layout, new names, and content types and metadata vary as in nested", (shape) => {
    const blobs = generateBlobs(5000, 16, shape, 0, shape);
    const set = changeSet(blobs, 1, shape, shape);
    const names = new Set(blobs.map((b) => b.name));
    expect(set.added.filter((b) => names.has(b.name))).toEqual([]);
    expect(set.added.every((b) => b.name.includes("/") === (shape !== "flat"))).toBe(true);
    const nested = generateBlobs(5000, 16, "nested");
    const facts = (b: { contentType: string; metadata: Readonly<Record<string, string>>; size: number }) => [b.contentType, Object.keys(b.metadata), b.size];
    expect(blobs.map(facts)).toEqual(nested.map(facts));
  });

  test("every shape is a workload of its own, with its own container, before the large one", () => {
    const w = planWorkloads({ ...parseOptions([], {}), small: { count: 10, sizeBytes: 16 }, large: { count: 1, sizeBytes: 16 } });
    expect(w.map((x) => [x.name, x.container, x.phases.join(",")])).toEqual([
      ["nested", "bench-nested", "full,noop,changed"], ["folders", "bench-folders", "full,noop,changed"], ["flat", "bench-flat", "full,noop,changed"],
      ["large", "bench-large", "full,noop"],
    ]);
    expect(planWorkloads({ ...parseOptions(["--shapes", "flat"], {}), large: { count: 0, sizeBytes: 16 } }).map((x) => x.name)).toEqual(["flat"]);
  });
});

describe("stats", () => {
  test.each([
    [[3, 1, 2], { n: 3, median: 2, min: 1, max: 3, spreadPct: 100 }],
    [[4, 1, 3, 2], { n: 4, median: 2.5, min: 1, max: 4, spreadPct: 120 }],
    [[5], { n: 1, median: 5, min: 5, max: 5, spreadPct: 0 }],
    [[null, 2, undefined, 4], { n: 2, median: 3, min: 2, max: 4, spreadPct: (2 / 3) * 100 }],
  ])("summarize(%j)", (values, expected) => {
    expect(summarize(values)).toEqual(expected);
  });

  test("nothing to summarize is null, and so is a ratio with a missing side", () => {
    expect(summarize([])).toBeNull();
    expect(summarize([null])).toBeNull();
    expect(ratio(1, 4)).toBe(0.25);
    expect(ratio(null, 4)).toBeNull();
    expect(ratio(1, 0)).toBeNull();
  });
});

describe("tool output", () => {
  test("GNU time's verbose report", () => {
    const text = [
      '\tCommand being timed: "azcopy sync a b"',
      "\tUser time (seconds): 1.25",
      "\tSystem time (seconds): 0.50",
      "\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:02.03",
      "\tMaximum resident set size (kbytes): 51234",
      "\tExit status: 0",
    ].join("\n");
    expect(parseGnuTime(text)).toEqual({ maxRssKiB: 51234, userSeconds: 1.25, systemSeconds: 0.5, exitStatus: 0 });
    expect(parseGnuTime("garbage")).toEqual({ maxRssKiB: null, userSeconds: null, systemSeconds: null, exitStatus: null });
  });

  test.each([
    ["10383 (cat) R 10325 10325 13894 0 -1 4194304 99 0 0 0 250 50 0 0 20 0 1 0 994836 3133440 392", 100, 3],
    ["42 (node) MainThread) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 12 0 5 6 7", 100, 0.1],
    ["42 (x) S 1 2", 100, null],
  ])("/proc/<pid>/stat %j at %i ticks/s → %s CPU seconds", (line, hz, cpu) => {
    expect(parseProcStatCpu(line, hz)).toBe(cpu);
  });

  test("this process's own CPU time is read from /proc, and a missing process is null", () => {
    expect(processCpuSeconds(process.pid)).toBeGreaterThanOrEqual(0);
    expect(processCpuSeconds(undefined)).toBeNull();
    expect(processCpuSeconds(2 ** 30)).toBeNull();
  });

  test("AzCopy's JSON output: the EndOfJob totals", () => {
    const line = (type: string, content: object) => JSON.stringify({ MessageType: type, MessageContent: JSON.stringify(content) });
    const out = [line("Init", { JobID: "x" }), line("Progress", { TransfersCompleted: "1" }),
      line("EndOfJob", { TransfersCompleted: "50", DeleteTransfersCompleted: "3", TransfersFailed: "0" })].join("\n");
    expect(parseAzCopyJson(out)).toEqual({ copied: 50, deleted: 3 });
    expect(parseAzCopyJson("INFO: plain text")).toEqual({ copied: null, deleted: null });
  });

  test("rclone's JSON log: the last stats line", () => {
    const err = [
      '{"level":"error","msg":"something","source":"x"}',
      '{"level":"warning","msg":"Transferred...","stats":{"transfers":7,"deletes":2,"errors":0}}',
    ].join("\n");
    expect(parseRcloneJsonLog(err)).toEqual({ copied: 7, deleted: 2 });
    expect(parseRcloneJsonLog("")).toEqual({ copied: null, deleted: null });
  });

  test("dr-sync's RunStatus: the push hops' counts", () => {
    const status = { containers: [{ push: { copied: 4, deleted: 1 }, pull: { copied: 9, deleted: 9 } }, { push: { copied: 1, deleted: 0 } }] };
    expect(parseDrSyncStatus(JSON.stringify(status))).toEqual({ copied: 5, deleted: 1 });
    expect(parseDrSyncStatus("not json")).toEqual({ copied: null, deleted: null });
  });

  test("failures are reported without SAS tokens", () => {
    const redact = redactor("sv=2017-11-09&sig=abc", "sv=2017-11-09&sig=def");
    expect(redact("GET http://h/c?sv=2017-11-09&sig=abc failed; other sig=zzz&x")).toBe("GET http://h/c?<SAS> failed; other sig=<redacted>&x");
  });
});

test.each([
  ["GET", "/source/c?restype=container&comp=list&include=metadata", "list"],
  ["GET", "/source/c/a/b.txt", "read"],
  ["GET", "/source/c/a/b.txt?sv=2017-11-09&sig=x", "read"],
  ["GET", "/source/c?restype=container", "other"],
  ["GET", "/source/c/b?comp=blocklist", "other"],
  ["HEAD", "/source/c/b", "head"],
  ["PUT", "/target/c/b?comp=block&blockid=AA", "write"],
  ["PUT", "/target/c?restype=container", "write"],
  ["DELETE", "/target/c/b", "delete"],
  ["OPTIONS", "/", "other"],
])("a %s of %s counts as %s", (method, url, kind) => {
  expect(classifyRequest(method, url)).toBe(kind);
});

test.each([
  ['127.0.0.1 - - [02/Dec/2026:02:30:00 +0000] "GET /source/c?restype=container&comp=list&sig=x HTTP/1.1" 200 -', { method: "GET", url: "/source/c?restype=container&comp=list&sig=x" }],
  ['::ffff:127.0.0.1 - - [02/Dec/2026:02:30:00 +0000] "PUT /target/c/a%2Fb HTTP/1.1" 201 0', { method: "PUT", url: "/target/c/a%2Fb" }],
  ["Azurite Blob service is successfully listening at http://127.0.0.1:1234", undefined],
  ["", undefined],
])("the access log line %j is the request %j", (line, req) => {
  expect(parseAccessLine(line)).toEqual(req);
});

test("the access-log counter counts each request once, by kind, and not its own marks", async () => {
  const counter = new AccessLogCounter();
  // A stand-in for Azurite's log: every request to it is logged as its response ends.
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    res.end();
    counter.line(`127.0.0.1 - - [02/Dec/2026:02:30:00 +0000] "${req.method} ${req.url} HTTP/1.1" 200 -`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as { port: number }).port;
    counter.line('x - - [d] "GET /source/c?comp=list HTTP/1.1" 200 -');
    counter.line('x - - [d] "DELETE /target/c/b HTTP/1.1" 202 -');
    counter.line("not a request");
    expect(await counter.take([port])).toEqual({ list: 1, read: 0, head: 0, write: 0, delete: 1, other: 0, total: 2 });
    expect(await counter.take([port, port])).toEqual({ list: 0, read: 0, head: 0, write: 0, delete: 0, other: 0, total: 0 });
  } finally {
    server.close();
  }
});

describe("fidelity check", () => {
  const facts = (o: Partial<BlobFacts> = {}): BlobFacts => ({ size: 4, sha256: "aa", contentType: "image/png", metadata: { origin: "x" }, ...o });
  const src = new Map([["a", facts()], ["b", facts({ metadata: {} })], ["c", facts({ contentType: undefined })]]);

  test("an exact copy is identical", () => {
    const f = compareContainers(src, new Map(src));
    expect(f).toMatchObject({ identical: true, bytes: 3, contentType: 3, metadata: 3, missing: 0, extra: 0, bytesChecked: true });
    expect(fidelityCell(f)).toBe("identical");
  });

  test("lost content types and metadata, a missing and an extra blob are each counted", () => {
    const dst = new Map([
      ["a", facts({ contentType: "application/octet-stream", metadata: {} })],
      ["c", facts({ contentType: "" })],
      ["z", facts()],
    ]);
    const f = compareContainers(src, dst);
    expect(f).toMatchObject({ identical: false, sourceBlobs: 3, targetBlobs: 3, missing: 1, extra: 1, bytes: 2, contentType: 1, metadata: 1 });
    expect(f.examples).toEqual(expect.arrayContaining(["b: missing at the target", "z: at the target only"]));
    expect(fidelityCell(f)).toBe("bytes 67% · type 33% · meta 33% · 1 missing · 1 extra");
  });

  test("metadata names compare case-insensitively, values exactly; bytes by hash", () => {
    const dst = new Map([["a", facts({ metadata: { Origin: "x" } })], ["b", facts({ metadata: {}, sha256: "bb" })], ["c", facts({ contentType: undefined, metadata: { origin: "X" } })]]);
    const f = compareContainers(new Map([["a", facts()], ["b", facts({ metadata: {} })], ["c", facts({ contentType: undefined })]]), dst);
    expect(f).toMatchObject({ metadata: 2, bytes: 2 });
  });

  test("a listing-only check says so", () => {
    const noHash = new Map([["a", facts({ sha256: undefined })]]);
    expect(compareContainers(noHash, new Map(noHash))).toMatchObject({ identical: true, bytesChecked: false });
  });
});

describe("options", () => {
  test("defaults", () => {
    const o = parseOptions([], {});
    expect(o).toMatchObject({ tools: ["recipe", "rclone", "dr-sync"], reps: 3, small: { count: 5000, sizeBytes: 4096 },
      large: { count: 2, sizeBytes: 64 * 1048576 }, scale: null, changePercent: 1, docsFile: "docs/benchmarks.md", setup: true,
      shapes: ["nested", "folders", "flat"], nodeFlags: "none", sites: "two" });
    expect(parseOptions(["--shapes", "flat,nested", "--node-flags", "unit"], {})).toMatchObject({ shapes: ["nested", "flat"], nodeFlags: "unit" });
    expect(parseOptions(["--sites", "one"], {}).sites).toBe("one");
    expect(parseOptions([], { BENCH_SITES: "one" }).sites).toBe("one");
  });

  test("flags win over BENCH_* variables", () => {
    const o = parseOptions(["--reps", "5", "--tools=dr-sync,recipe", "--no-scale", "--large", "0", "--no-docs"], { BENCH_REPS: "2", BENCH_SMALL: "50", BENCH_SMALL_KIB: "1" });
    expect(o).toMatchObject({ reps: 5, tools: ["recipe", "dr-sync"], scale: null, large: { count: 0 }, docsFile: null, small: { count: 50, sizeBytes: 1024 } });
    expect(parseOptions([], { BENCH_SCALE: "on" }).scale).toEqual({ count: 100000, sizeBytes: 1024 });
    expect(parseOptions(["--scale", "--scale-count", "2000"], {}).scale).toEqual({ count: 2000, sizeBytes: 1024 });
    expect(() => parseOptions(["--small", "0", "--large", "0"], {})).toThrow("every workload is off");
  });

  test("every problem is reported at once", () => {
    const bad = ["--reps", "0", "--tools", "robocopy", "--bogus", "--change-percent", "50", "--shapes", "deep", "--node-flags", "fast", "--sites", "three"];
    expect(() => parseOptions(bad, {})).toThrow(UsageError);
    try {
      parseOptions(bad, {});
    } catch (err) {
      const msg = (err as Error).message;
      for (const s of ["--reps must be", "--tools must list", 'unknown argument "--bogus"', "--change-percent must be", '--shapes must list some of nested, folders, flat (got "deep")',
        '--node-flags must be none or unit (got "fast")', '--sites must be one or two (got "three")']) expect(msg).toContain(s);
    }
  });
});

test("the generated section of docs/benchmarks.md is replaced, the analysis around it kept", () => {
  const first = replaceGeneratedSection("# Benchmarks\n\nAnalysis.\n", "table v1");
  expect(first).toBe(`# Benchmarks\n\nAnalysis.\n\n${BEGIN}\ntable v1\n${END}\n`);
  const second = replaceGeneratedSection(`${first}\n## Profiling\n`, "table v2\n");
  expect(second).toBe(`# Benchmarks\n\nAnalysis.\n\n${BEGIN}\ntable v2\n${END}\n\n## Profiling\n`);
});

describe("chart", () => {
  test("renders one panel per entry, whiskers where there is a spread, n/a for missing values, escaped text", () => {
    const svg = renderChart("A & B", [
      { title: "small <full>", unit: "s", bars: [{ label: "recipe", value: 10, min: 9, max: 12, color: "#888" }, { label: "dr-sync", value: null, color: "#00f" }] },
      { title: "noop", unit: "s", bars: [{ label: "recipe", value: 0.25, color: "#888" }] },
    ]);
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("A &amp; B");
    expect(svg).toContain("small &lt;full&gt;");
    expect(svg).toContain(">n/a<");
    expect(svg.match(/<g /g)).toHaveLength(2);
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  test.each([[0, "0"], [0.1234, "0.12"], [3.14159, "3.14"], [42.42, "42.4"], [1234.5, "1235"]])("formats %d as %s", (v, s) => {
    expect(formatValue(v)).toBe(s);
  });

  test("escapes XML", () => {
    expect(escapeXml(`<a href="x">&</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
  });
});

describe("summaries and targets", () => {
  const run = (tool: PhaseRun["tool"], phase: PhaseRun["phase"], wall: number, rss: number, workload: PhaseRun["workload"] = "nested", rep = 1): PhaseRun => ({
    workload, phase, tool, rep, ok: true, wallMs: wall * 1000, maxRssKiB: rss * 1024, cpuSeconds: 1, requests: { list: 1, read: 0, head: 0, write: 0, delete: 0, other: 0, total: 1 },
    copied: 0, deleted: 0,
    fidelity: phase === "noop" ? undefined : { sourceBlobs: 10, targetBlobs: 10, missing: 0, extra: 0, bytes: 10, bytesChecked: true, contentType: 10, metadata: 10, identical: tool === "dr-sync", examples: [] },
  });
  const runs: PhaseRun[] = [
    run("recipe", "full", 10, 100), run("recipe", "full", 12, 100, "nested", 2), run("rclone", "full", 8, 60), run("dr-sync", "full", 7, 40), run("dr-sync", "full", 9, 44, "nested", 2),
    run("recipe", "noop", 4, 50), run("rclone", "noop", 1, 50), run("dr-sync", "noop", 0.5, 40),
    run("recipe", "changed", 5, 50), run("rclone", "changed", 1, 50), run("dr-sync", "changed", 1.5, 40),
  ];
  const result = { runs, workloads: [{ name: "nested" as const, blobs: 10, blobBytes: 16, phases: ["full", "noop", "changed"] as const, reps: 2, fidelityBytes: true }] };

  test("groups repetitions into medians", () => {
    const s = summarizeRuns(runs).find((x) => x.tool === "dr-sync" && x.phase === "full")!;
    expect(s.wallSeconds).toMatchObject({ n: 2, median: 8, min: 7, max: 9 });
    expect(s.maxRssMiB).toMatchObject({ median: 42 });
  });

  test("checks each target against the peers' medians", () => {
    const t = Object.fromEntries(checkTargets(result).map((x) => [x.target, x.verdict]));
    expect(t).toEqual({
      "nested: full first run ≤ 0.75× the recipe's time": "met", // 8 / 11 = 0.73
      "nested: no-op run ≤ 0.15× the recipe's": "met", // 0.5 / 4
      "nested: no-op run ≤ 0.5× rclone's": "met", // 0.5 / 1
      "nested: 1%-changed run ≤ 0.75× rclone's": "missed", // 1.5 / 1
      "nested: peak RSS ≤ 0.5× the recipe's": "met", // 42 / 100
      "fidelity: 100% of bytes, content types and metadata": "met",
    });
  });

  test.each([
    // dr-sync full, no-op, changed; scale full, no-op → verdicts of the two flat-memory targets
    [100, 100, 115, 115, "met", "met"],
    [100, 100, 116, 100, "missed", "met"],
    [100, 90, 100, 104, "met", "missed"],
  ])("flat memory: 5,000 blobs at %i/%i MiB, scale at %i/%i MiB → %s, %s", (full, noop, sFull, sNoop, vFull, vNoop) => {
    const scaleRuns = [run("dr-sync", "full", 1, full), run("dr-sync", "noop", 1, noop), run("dr-sync", "full", 1, sFull, "scale"), run("dr-sync", "noop", 1, sNoop, "scale")];
    const workloads = [result.workloads[0], { name: "scale" as const, blobs: 100, blobBytes: 16, phases: ["full", "noop"] as const, reps: 1, fidelityBytes: false }];
    const t = Object.fromEntries(checkTargets({ runs: scaleRuns, workloads }).map((x) => [x.target, x.verdict]));
    expect(t["full cycle's peak RSS at scale ≤ 1.15× at nested's 5,000 blobs"]).toBe(vFull);
    expect(t["noop cycle's peak RSS at scale ≤ 1.15× at nested's 5,000 blobs"]).toBe(vNoop);
  });

  test("renders a table and a Markdown report", () => {
    const summaries = summarizeRuns(runs);
    const table = consoleTable(summaries, ["recipe", "rclone", "dr-sync"]);
    expect(table.split("\n")).toHaveLength(2 + 9);
    expect(table).toMatch(/nested\s+full\s+dr-sync\s+8\.00 \(7\.00–9\.00\)/);
    const full: BenchResult = { ...result, workloads: result.workloads.map((w) => ({ ...w, phases: [...w.phases] })), startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:01:00Z",
      machine: { cpus: 2, cpuModel: "cpu", memoryGiB: 24, node: "v20", kernel: "6" }, versions: { recipe: "AzCopy 10.32.2", rclone: "rclone v1.60.1", "dr-sync": "dr-sync 0.1.0" },
      skipped: {}, changePercent: 1, drSyncNodeFlags: [] };
    const md = renderMarkdown(full, summaries, checkTargets(full), "./chart.svg", ["a note"]);
    expect(md).toContain("![benchmark chart](./chart.svg)");
    expect(md).toContain("| nested: 1%-changed run ≤ 0.75× rclone's | ❌ missed |");
    expect(md).toContain("in names two folders deep (16 × 64 folders)");
    expect(md).toContain("`node runtime/dist/dr-sync.js run --config …` as the contract starts it");
    expect(renderMarkdown({ ...full, drSyncNodeFlags: ["--max-semi-space-size=2"] }, summaries, [], "c.svg", [])).toContain("`node --max-semi-space-size=2 runtime/dist/dr-sync.js run");
    expect(md).toContain("| full | dr-sync | 8.00 (7.00–9.00) | 42 (40–44) |");
    expect(md).toContain("- a note");
  });
});

test("the RSS-by-container-size chart: one point per small-blob workload, bars smallest first, one color per series", () => {
  const run = (workload: PhaseRun["workload"], phase: PhaseRun["phase"], rss: number): PhaseRun => ({
    workload, phase, tool: "dr-sync", rep: 1, ok: true, wallMs: 1000, maxRssKiB: rss * 1024, cpuSeconds: 1, requests: null, copied: 0, deleted: 0,
  });
  const workloads = [
    { name: "nested" as const, blobs: 5000, blobBytes: 4096, phases: ["full", "noop"] as const, reps: 1, fidelityBytes: true },
    { name: "large" as const, blobs: 2, blobBytes: 1 << 26, phases: ["full", "noop"] as const, reps: 1, fidelityBytes: true },
    { name: "scale" as const, blobs: 20000, blobBytes: 1024, phases: ["full", "noop"] as const, reps: 1, fidelityBytes: false },
  ];
  const runs = [run("nested", "full", 110), run("nested", "noop", 100), run("large", "full", 300), run("scale", "full", 120)];
  const points = rssPoints("engine", { runs, workloads });
  expect(points).toEqual([
    { series: "engine", blobs: 5000, fullMiB: 110, noopMiB: 100 },
    { series: "engine", blobs: 20000, fullMiB: 120, noopMiB: null },
  ]);
  const svg = renderRssByCount("t", [...points, { series: "main", blobs: 5000, fullMiB: 130, noopMiB: 125 }]);
  expect(svg.match(/>[^<]*(5k|20k) (engine|main)</g)).toEqual([">5k engine<", ">5k main<", ">20k engine<", ">5k engine<", ">5k main<", ">20k engine<"]);
  expect(svg).toContain("n/a");
  expect(svg).toContain('fill="#009e73"');
});

