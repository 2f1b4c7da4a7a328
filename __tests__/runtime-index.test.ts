import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildSync } from "esbuild";
import { openDatabase } from "../runtime/src/index/sqlite";
import { StagingStore } from "../runtime/src/staging/staging-store";
import { RetentionArea } from "../runtime/src/staging/retention";
import { StagedEntry } from "../runtime/src/model/blob";
import { compareNames } from "../runtime/src/index/blob-name";
import { DELETE_RECORDS_OF_NAME_SQL, INDEX_SCHEMA_VERSION, IndexError, StagingIndex } from "../runtime/src/index/staging-index";
import { listBlobs } from "../runtime/src/listing/blob-lister";
import { PushRecords } from "../runtime/src/state/push-records";
import { acceptAdded, addedCursor, countStagedNew, isAdded, noteAdded, pushedAhead, STAGED_NEW } from "../runtime/src/sync/added-names";
import { march } from "../runtime/src/sync/march";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";
import { seedExact } from "./support/faults";
import { HOSTILE_NAMES, UNADDRESSABLE_NAMES } from "./support/hostile-names";

const entry = (name: string, extra: Partial<StagedEntry> = {}): StagedEntry => ({
  name, srcEtag: `0x${name.length}`, size: name.length, lastModified: "2026-12-01T10:00:00.000Z", kind: "BlockBlob",
  props: { contentType: "text/plain" }, metadata: { k: "v" }, dataFile: `f-${name.length}`, ...extra,
});

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "drsync-index-")); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("staging index on disk", () => {
  test("entries round-trip every field, and optional ones stay absent", () => {
    const full = entry("full", {
      kind: "PageBlob", size: 1024, pageRanges: [[0, 512], [768, 256]], stagedMd5: "1B2M2Y8AsgTpgAmY7PhCfg==",
      props: { contentType: "a/b", contentEncoding: "gzip", contentLanguage: "de", contentDisposition: "inline", cacheControl: "no-cache", contentMD5: "abc=" },
      metadata: JSON.parse('{"__proto__": "p", "constructor": "c", "Mixed": "Case", "empty": ""}'),
    });
    const bare = entry("bare", { props: {}, metadata: {} });
    const idx = StagingIndex.open(join(dir, "c.db"));
    idx.putEntry(full);
    idx.putEntry(bare);
    idx.close();
    const again = StagingIndex.open(join(dir, "c.db"));
    expect(again.getEntry("full")).toEqual(full);
    expect(Object.keys(again.getEntry("full")!.metadata)).toEqual(["__proto__", "constructor", "Mixed", "empty"]);
    const b = again.getEntry("bare")!;
    expect(b).toEqual(bare);
    expect("pageRanges" in b || "stagedMd5" in b).toBe(false);
    expect(again.getEntry("missing")).toBeUndefined();
    again.close();
  });

  test("hostile names round-trip exactly, and the cursor gives them in UTF-16 code unit order, not UTF-8 byte order", () => {
    const names = [...HOSTILE_NAMES, ...UNADDRESSABLE_NAMES];
    const idx = StagingIndex.open(join(dir, "c.db"), { pageRows: 3 });
    [...names].reverse().forEach((n) => idx.putEntry(entry(n)));
    for (const n of names) expect(idx.getEntry(n)?.name).toBe(n);
    const listed = [...idx.entries()].map((e) => e.name);
    expect(listed).toEqual([...names].sort());
    expect(listed).not.toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    expect(idx.countEntries()).toBe(new Set(names).size);
    idx.close();
  });

  test("a name with a lone surrogate is refused with an IndexError, not stored as U+FFFD", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    for (const bad of ["x\uD800", "\uDC00y", ""]) {
      expect(() => idx.putEntry(entry(bad))).toThrow(IndexError);
      expect(() => idx.putPushRecord("dr", bad, { srcEtag: "s", dstEtag: "d" })).toThrow(/not valid Unicode/);
    }
    expect(idx.countEntries()).toBe(0);
    idx.close();
  });

  test("push records per target site: put, replace, delete, and list in name order with the optional md5", () => {
    const idx = StagingIndex.open(join(dir, "c.db"), { pageRows: 2 });
    idx.putPushRecord("dr", "b", { srcEtag: "s1", dstEtag: "d1", md5: "m" });
    idx.putPushRecord("dr", "a\u{1F600}", { srcEtag: "s2", dstEtag: "d2" });
    idx.putPushRecord("dr", "a\uFF01", { srcEtag: "s3", dstEtag: "d3" });
    idx.putPushRecord("dr", "b", { srcEtag: "s4", dstEtag: "d4", md5: "n" });
    idx.putPushRecord("other", "b", { srcEtag: "s5", dstEtag: "d5" });
    expect(idx.getPushRecord("dr", "b")).toEqual({ srcEtag: "s4", dstEtag: "d4", md5: "n" });
    expect(idx.getPushRecord("other", "b")).toEqual({ srcEtag: "s5", dstEtag: "d5" });
    expect(idx.getPushRecord("dr", "a\u{1F600}")).toEqual({ srcEtag: "s2", dstEtag: "d2" });
    expect([...idx.pushRecords("dr")].map(([n]) => n)).toEqual(["a\u{1F600}", "a\uFF01", "b"]);
    expect([...idx.pushRecords("other")]).toEqual([["b", { srcEtag: "s5", dstEtag: "d5" }]]);
    idx.deletePushRecord("dr", "b");
    expect(idx.getPushRecord("dr", "b")).toBeUndefined();
    expect(idx.getPushRecord("other", "b")).toBeDefined();
    idx.close();
  });

  test("one name's push records are forgotten at every target by key lookups, not by reading every record", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    for (const t of ["dr", "other", "third"]) for (const n of ["a", "b", "c"]) idx.putPushRecord(t, n, { srcEtag: `s-${t}`, dstEtag: `d-${n}` });
    idx.deletePushRecordsOf("b");
    for (const t of ["dr", "other", "third"]) {
      expect([...idx.pushRecords(t)].map(([n]) => n)).toEqual(["a", "c"]);
    }
    idx.deletePushRecordsOf("never recorded");
    expect(idx.countPushRecords("dr")).toBe(2);
    idx.close();
    const db = openDatabase(join(dir, "c.db"), 1000);
    try {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${DELETE_RECORDS_OF_NAME_SQL}`).all("b").map((r) => String((r as { detail: unknown }).detail));
      expect(plan).toContain("SEARCH push_records USING PRIMARY KEY (target=? AND name=?)");
      expect(plan.filter((d) => /^SCAN push_records/.test(d))).toEqual([]);
    } finally {
      db.close();
    }
  });

  test("entries with their push records for one target come by one join, in order, across pages; records of gone names are pruned", () => {
    const idx = StagingIndex.open(join(dir, "c.db"), { pageRows: 2 });
    for (const n of ["a\uFF01", "b", "a\u{1F600}", "c", "d"]) idx.putEntry(entry(n));
    idx.putPushRecord("dr", "b", { srcEtag: "s1", dstEtag: "d1", md5: "m" });
    idx.putPushRecord("dr", "a\u{1F600}", { srcEtag: "s2", dstEtag: "d2" });
    idx.putPushRecord("other", "c", { srcEtag: "s3", dstEtag: "d3" });
    idx.putPushRecord("dr", "gone", { srcEtag: "s4", dstEtag: "d4" });
    const joined = [...idx.entriesWithRecords("dr")];
    expect(joined.map((e) => [e.name, e.record])).toEqual([
      ["a\u{1F600}", { srcEtag: "s2", dstEtag: "d2" }], ["a\uFF01", undefined], ["b", { srcEtag: "s1", dstEtag: "d1", md5: "m" }], ["c", undefined], ["d", undefined],
    ]);
    expect(joined.map(({ record: _r, ...e }) => e)).toEqual([...idx.entries()]);
    expect("record" in joined[1]).toBe(false);
    idx.prunePushRecords();
    expect(idx.getPushRecord("dr", "gone")).toBeUndefined();
    expect([...idx.pushRecords("dr")].map(([n]) => n)).toEqual(["a\u{1F600}", "b"]);
    expect(idx.getPushRecord("other", "c")).toBeDefined();
    idx.close();
  });

  test("queues keep JSON items per queue in name order, counted and cleared on their own", () => {
    const idx = StagingIndex.open(join(dir, "c.db"), { pageRows: 2 });
    for (const n of ["z", "a\uFF01", "a\u{1F600}", "m"]) idx.enqueue("one", n, { n, nested: { size: n.length } });
    idx.enqueue("two", "x", { n: "x" });
    idx.enqueue("one", "m", { n: "m", replaced: true });
    expect(idx.countQueued("one")).toBe(4);
    expect([...idx.queued<{ n: string }>("one")].map((i) => i.n)).toEqual(["a\u{1F600}", "a\uFF01", "m", "z"]);
    expect([...idx.queued("one")][2]).toEqual({ n: "m", replaced: true });
    idx.clearQueue("one");
    expect(idx.countQueued("one")).toBe(0);
    expect([...idx.queued("two")]).toEqual([{ n: "x" }]);
    expect(() => idx.enqueue("one", "lone\uD800", {})).toThrow(IndexError);
    idx.close();
  });

  test("one item or the items older than a time leave a queue, and nothing of another queue", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    idx.enqueue("sent", "old", { etag: "1", at: 100 });
    idx.enqueue("sent", "edge", { etag: "2", at: 200 });
    idx.enqueue("sent", "new", { etag: "3", at: 300 });
    idx.enqueue("sent", "gone", { etag: "4", at: 400 });
    idx.enqueue("other", "old", { at: 1 });
    idx.dequeue("sent", "gone");
    idx.dequeue("sent", "never-there");
    idx.dequeueBefore("sent", 200);
    expect([...idx.queued<{ etag: string }>("sent")].map((i) => i.etag)).toEqual(["2", "3"]);
    expect(idx.queuedItem("other", "old")).toEqual({ at: 1 });
    idx.close();
  });

  test("names added before the guards: they stay through any number of runs, are counted only where staged and listed, and go once a guard passes", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    const ahead = pushedAhead("site-a");
    idx.putEntry(entry("held"));
    // Noted before it is staged (the download of "failed" never landed): only staged names count.
    noteAdded(idx, STAGED_NEW, "new-staged");
    idx.putEntry(entry("new-staged"));
    noteAdded(idx, STAGED_NEW, "failed");
    noteAdded(idx, ahead, "b", "run-1");
    noteAdded(idx, ahead, "a", "run-2");
    noteAdded(idx, pushedAhead("site-b"), "a", "run-2");
    expect({ staged: countStagedNew(idx), isAdded: isAdded(idx, STAGED_NEW, "failed"), held: isAdded(idx, STAGED_NEW, "held") })
      .toEqual({ staged: 1, isAdded: true, held: false });
    // Asked in walk order: every name, and the run that wrote it.
    const cursor = addedCursor(idx, ahead)!;
    expect(["a", "aa", "b", "c"].map((n) => cursor.get(n))).toEqual([{ name: "a", run: "run-2" }, undefined, { name: "b", run: "run-1" }, undefined]);
    acceptAdded(idx, ahead);
    expect({ site: addedCursor(idx, ahead), other: idx.countQueued(pushedAhead("site-b")), staged: countStagedNew(idx) }).toEqual({ site: undefined, other: 1, staged: 1 });
    acceptAdded(idx, STAGED_NEW);
    expect(countStagedNew(idx)).toBe(0);
    idx.close();
  });

  test("blocks sent ahead are noted per target; an adoption leaves the note, a committed write clears it", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    const a = new PushRecords(idx, "site-a");
    const b = new PushRecords(idx, "site-b");
    a.noteBlocksAhead("big.bin", { etag: "0x1", at: 1000 });
    expect({ a: a.blocksAhead("big.bin"), b: b.blocksAhead("big.bin") }).toEqual({ a: { etag: "0x1", at: 1000 }, b: undefined });
    a.set("big.bin", { srcEtag: "0x1", dstEtag: "0xd" });
    expect(a.blocksAhead("big.bin")).toEqual({ etag: "0x1", at: 1000 });
    b.written("big.bin", { srcEtag: "0x1", dstEtag: "0xe" });
    expect(a.blocksAhead("big.bin")).toEqual({ etag: "0x1", at: 1000 });
    a.written("big.bin", { srcEtag: "0x1", dstEtag: "0xf" });
    expect(a.blocksAhead("big.bin")).toBeUndefined();
    idx.close();
  });

  test("range MD5s are kept per name for one data file only, go with the entry, and an index from before their table still opens", () => {
    const file = join(dir, "c.db");
    const idx = StagingIndex.open(file);
    idx.putEntry(entry("big", { dataFile: "v1.bin" }));
    idx.putRangeMd5s("big", "v1.bin", { rangeSize: 4, md5s: ["a==", "b==", "c=="] });
    expect(idx.getRangeMd5s("big", "v1.bin")).toEqual({ rangeSize: 4, md5s: ["a==", "b==", "c=="] });
    // Another version's file (an older dr-sync replaced the entry and left the row): never misread as this one's.
    expect(idx.getRangeMd5s("big", "v2.bin")).toBeUndefined();
    expect(idx.getRangeMd5s("other", "v1.bin")).toBeUndefined();
    idx.deleteEntry("big");
    expect(idx.getRangeMd5s("big", "v1.bin")).toBeUndefined();
    idx.putEntry(entry("kept"));
    idx.close();

    // The table dropped, as an index written before it has none: a reader opens it and finds no MD5s; a writer adds it.
    const old = openDatabase(file, 1000);
    old.exec("DROP TABLE range_md5s");
    old.close();
    const reader = StagingIndex.open(file, { reader: true });
    expect(reader.getRangeMd5s("kept", "f-4")).toBeUndefined();
    expect([...reader.entries()].map((e) => e.name)).toEqual(["kept"]);
    reader.close();
    const writer = StagingIndex.open(file);
    writer.putRangeMd5s("kept", "f-4", { rangeSize: 1, md5s: ["x=="] });
    expect(writer.getRangeMd5s("kept", "f-4")?.md5s).toEqual(["x=="]);
    writer.close();
  });

  test("a version staged without range MD5s over one with them takes theirs away; one with them records them", async () => {
    const staging = join(dir, "staging");
    const store = await StagingStore.open(staging, "site", "c", new RetentionArea(staging));
    const stage = async (etag: string, ranges?: { rangeSize: number; md5s: string[] }) => {
      const tmp = store.tmpPath();
      writeFileSync(tmp, `bytes of ${etag}`);
      const { dataFile: _d, ...e } = entry("big", { srcEtag: etag, size: `bytes of ${etag}`.length });
      return store.commit(e, tmp, ranges);
    };
    const v1 = await stage("0x1", { rangeSize: 4, md5s: ["a==", "b=="] });
    expect(store.rangeMd5s(v1)).toEqual({ rangeSize: 4, md5s: ["a==", "b=="] });
    const v2 = await stage("0x2");
    expect(store.rangeMd5s(v2)).toBeUndefined();
    expect(store.rows.getRangeMd5s("big", v1.dataFile)).toBeUndefined();
    await store.close();
  });

  test("unreferencedDataFiles names the files no entry points to, and nothing else", () => {
    const idx = StagingIndex.open(join(dir, "c.db"));
    idx.putEntry(entry("a", { dataFile: "aa.1.bin" }));
    idx.putEntry(entry("b", { dataFile: "bb.1.bin" }));
    expect(idx.unreferencedDataFiles(["aa.1.bin", "aa.0.bin", "bb.1.bin", "cc.7.bin"]).sort()).toEqual(["aa.0.bin", "cc.7.bin"]);
    expect(idx.unreferencedDataFiles([])).toEqual([]);
    idx.close();
  });

  test("a run's seen names and pending deletions live on disk and are forgotten by the next run", () => {
    const file = join(dir, "c.db");
    const idx = StagingIndex.open(file, { pageRows: 2 });
    ["a", "b", "c", "d", "e"].forEach((n) => idx.putEntry(entry(n)));
    idx.beginRun();
    idx.markSeen("b");
    idx.markSeen("d");
    idx.markSeen("zz-new"); // seen but not staged yet: not a deletion candidate either way
    expect([...idx.unseenNames()]).toEqual(["a", "c", "e"]);
    for (const n of idx.unseenNames()) idx.addPendingDelete(n);
    idx.close();
    const again = StagingIndex.open(file);
    expect(again.countPendingDeletes()).toBe(3);
    expect([...again.pendingDeletes()]).toEqual(["a", "c", "e"]);
    again.beginRun();
    expect(again.countPendingDeletes()).toBe(0);
    expect([...again.unseenNames()]).toEqual(["a", "b", "c", "d", "e"]);
    again.close();
  });

  // A page is read whole: a row deleted after its page was read is still given; rows of later pages are read fresh.
  test("the cursor reads pages, so writes while walking it neither stall nor repeat rows", () => {
    const idx = StagingIndex.open(join(dir, "c.db"), { pageRows: 4, batchRows: 3 });
    for (let i = 0; i < 20; i++) idx.putEntry(entry(`n${String(i).padStart(2, "0")}`));
    const walked: string[] = [];
    for (const e of idx.entries()) {
      walked.push(e.name);
      idx.putEntry({ ...e, srcEtag: "changed" });
      if (e.name === "n05") idx.deleteEntry("n10");
    }
    expect(walked).toHaveLength(19);
    expect(new Set(walked).size).toBe(19);
    expect([...idx.entries()].every((e) => e.srcEtag === "changed")).toBe(true);
    idx.close();
  });

  test("a batch SQLite rolls back itself (the disk full) stops the index: what waited for its commit never runs, later writes fail, committed rows stay", () => {
    // Found in review: the write's error reached the caller as one blob's failure, the next write began a new batch,
    // and its commit ran the lost batch's waiting actions (removing the data files its rows had superseded).
    const file = join(dir, "c.db");
    const idx = StagingIndex.open(file, { batchRows: 1_000_000, batchMs: 2 ** 31 });
    idx.putEntry(entry("committed"));
    idx.flush();
    // A full disk as SQLite sees it (a real SQLITE_FULL): no page beyond a few more.
    const db = (idx as unknown as { db: { exec(sql: string): void; prepare(sql: string): { get(): { page_count: number } } } }).db;
    db.exec(`PRAGMA max_page_count = ${db.prepare("PRAGMA page_count").get().page_count + 2}`);
    let waitingRan = 0;
    let thrown: unknown;
    try {
      for (let i = 0; i < 10_000; i++) {
        idx.putEntry(entry(`lost${i}`, { metadata: { pad: "x".repeat(500) } }));
        idx.afterCommit(() => waitingRan++);
      }
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IndexError);
    expect((thrown as Error).message).toMatch(/writing a row failed \(.*database or disk is full.*\): the last \d+ change\(s\) were rolled back and the run stopped.*free space on the staging disk/);
    db.exec("PRAGMA max_page_count = 1073741823");
    // Sticky: whoever writes or commits next, even with space again, is stopped too.
    expect(() => idx.putEntry(entry("after"))).toThrow(IndexError);
    expect(() => idx.flush()).toThrow(IndexError);
    expect(waitingRan).toBe(0);
    expect(() => idx.close()).toThrow(IndexError);
    const again = StagingIndex.open(file);
    expect([...again.entries()].map((e) => e.name)).toEqual(["committed"]);
    again.close();
  });

  test("committed batches survive the process being killed; the open batch is lost whole", () => {
    const file = join(dir, "c.db");
    const script = join(dir, "writer.js");
    // A child on the same Node.js writes 25 rows with batches of 10, then is SIGKILLed before it commits the rest.
    const child = buildSync({
      stdin: {
        resolveDir: __dirname, loader: "ts", contents: `
          import { StagingIndex } from "../runtime/src/index/staging-index";
          const idx = StagingIndex.open(${JSON.stringify(file)}, { batchRows: 10, batchMs: 60000 });
          for (let i = 0; i < 25; i++) idx.putEntry({ name: "k" + String(i).padStart(2, "0"), srcEtag: "e", size: 1, lastModified: "t", kind: "BlockBlob", props: {}, metadata: {}, dataFile: "f" });
          process.kill(process.pid, "SIGKILL");`,
      },
      bundle: true, platform: "node", format: "cjs", write: false, logLevel: "silent",
    });
    writeFileSync(script, child.outputFiles[0].text);
    const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
    expect(r.signal).toBe("SIGKILL");
    const idx = StagingIndex.open(file);
    expect(idx.countEntries()).toBe(20);
    idx.close();
  });

  test("a batch commits after batchRows rows or after batchMs, and another connection sees only committed rows", () => {
    const file = join(dir, "c.db");
    // batchMs well above what 300 inserts take on a loaded machine (a 20 ms limit was reached mid-loop on CI).
    const writer = StagingIndex.open(file, { batchRows: 1000, batchMs: 1000 });
    const reader = StagingIndex.open(file);
    for (let i = 0; i < 300; i++) writer.putEntry(entry(`r${String(i).padStart(3, "0")}`));
    expect(reader.countEntries()).toBe(0); // neither limit reached: the batch is still open
    const until = Date.now() + 1050;
    while (Date.now() < until) { /* let batchMs pass */ }
    for (let i = 300; i < 512; i++) writer.putEntry(entry(`r${String(i).padStart(3, "0")}`));
    expect(reader.countEntries()).toBe(512); // the time limit is checked every 256 rows: row 512 committed all
    const byRows = StagingIndex.open(join(dir, "rows.db"), { batchRows: 10, batchMs: 60_000 });
    const rowsReader = StagingIndex.open(join(dir, "rows.db"));
    for (let i = 0; i < 25; i++) byRows.putEntry(entry(`k${i}`));
    expect(rowsReader.countEntries()).toBe(20);
    byRows.flush();
    expect(rowsReader.countEntries()).toBe(25);
    for (const x of [writer, reader, byRows, rowsReader]) x.close();
  });

  test("a batch whose writes come slowly is committed by batchMs even with no further write", async () => {
    const file = join(dir, "slow.db");
    const writer = StagingIndex.open(file, { batchRows: 1000, batchMs: 30 });
    const reader = StagingIndex.open(file, { reader: true });
    writer.putEntry(entry("one"));
    expect(reader.countEntries()).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(reader.countEntries()).toBe(1);
    for (const x of [writer, reader]) x.close();
  });

  test("a reader opened beside a writer mid-batch reads the committed rows at once and writes nothing", () => {
    const file = join(dir, "c.db");
    const writer = StagingIndex.open(file, { batchRows: 2, batchMs: 60_000 });
    for (const n of ["a", "b", "c"]) writer.putEntry(entry(n));
    // No wait allowed for the writer's lock: an open that wrote anything would fail here.
    expect(() => StagingIndex.open(file, { busyTimeoutMs: 0 }).close()).toThrow(IndexError);
    const reader = StagingIndex.open(file, { reader: true, busyTimeoutMs: 0 });
    expect([...reader.entries()].map((e) => e.name)).toEqual(["a", "b"]);
    reader.close();
    writer.close();
    const empty = join(dir, "empty.db");
    writeFileSync(empty, "");
    expect(() => StagingIndex.open(empty, { reader: true })).toThrow(IndexError);
    expect(readFileSync(empty).length).toBe(0);
  });

  test("a scratch transaction (plan's) is read back by its own index, seen by no one else, never committed by a batch, flush or close, and undone whole", async () => {
    const file = join(dir, "c.db");
    // Batches of 2 rows: outside a scratch transaction the writes below would commit at once, several times over.
    const idx = StagingIndex.open(file, { batchRows: 2, batchMs: 0 });
    ["a", "b", "c"].forEach((n) => idx.putEntry(entry(n)));
    idx.beginRun();
    idx.markSeen("a");
    let pendingBefore = 0;
    idx.afterCommit(() => pendingBefore++);
    idx.beginScratch();
    expect(pendingBefore).toBe(1); // what was waiting for a commit got it before the scratch began
    expect(() => idx.beginScratch()).toThrow(/already open/);
    const ran: string[] = [];
    idx.deleteEntry("a");
    idx.putEntry(entry("b", { srcEtag: "planned" }));
    ["x", "y", "z"].forEach((n) => idx.putEntry(entry(n)));
    idx.afterCommit(() => ran.push("would remove a data file"));
    idx.beginRun(); // a run's start inside it is a savepoint, undone with the rest
    idx.markSeen("x");
    idx.addPendingDelete("c");
    idx.flush();
    // A batch timer, had one been armed, would fire now (batchMs 0).
    await new Promise((r) => setTimeout(r, 20));
    expect([...idx.entries()].map((e) => `${e.name}:${e.srcEtag}`)).toEqual(["b:planned", "c:0x1", "x:0x1", "y:0x1", "z:0x1"]);
    expect([...idx.unseenNames()]).toEqual(["b", "c", "y", "z"]);
    const reader = StagingIndex.open(file, { reader: true, busyTimeoutMs: 0 });
    expect([...reader.entries()].map((e) => `${e.name}:${e.srcEtag}`)).toEqual(["a:0x1", "b:0x1", "c:0x1"]);
    reader.close();
    idx.endScratch();
    expect(ran).toEqual([]);
    expect([...idx.entries()].map((e) => e.name)).toEqual(["a", "b", "c"]);
    expect([...idx.unseenNames()]).toEqual(["b", "c"]);
    expect(idx.countPendingDeletes()).toBe(0);
    // After it, writes batch and commit as before; a scratch left open by a close is undone too.
    idx.putEntry(entry("d"));
    idx.putEntry(entry("e"));
    idx.beginScratch();
    idx.putEntry(entry("f"));
    idx.close();
    expect(ran).toEqual([]);
    const again = StagingIndex.open(file);
    expect([...again.entries()].map((e) => e.name)).toEqual(["a", "b", "c", "d", "e"]);
    again.close();
  });

  test("a scratch transaction that SQLite ended itself (disk full, I/O error) is never continued as one that commits", () => {
    const file = join(dir, "c.db");
    const idx = StagingIndex.open(file, { batchRows: 1, batchMs: 60_000 });
    idx.putEntry(entry("a"));
    idx.beginScratch();
    idx.putEntry(entry("planned"));
    // What SQLite does on SQLITE_FULL and some I/O errors: the whole transaction is rolled back under us.
    (idx as unknown as { db: { exec(sql: string): void } }).db.exec("ROLLBACK");
    const ran: string[] = [];
    idx.afterCommit(() => ran.push("would remove a data file"));
    expect(ran).toEqual([]);
    expect(() => idx.putEntry(entry("after"))).toThrow(/scratch transaction ended early; nothing it planned was committed/);
    expect(() => idx.beginRun()).toThrow(/scratch transaction ended early/);
    idx.close();
    const again = StagingIndex.open(file);
    expect([...again.entries()].map((e) => e.name)).toEqual(["a"]);
    again.close();
  });

  test("afterCommit waits for the batch that holds the writes so far, in order, and runs at once when none is open", () => {
    const idx = StagingIndex.open(join(dir, "c.db"), { batchRows: 3, batchMs: 60_000 });
    const ran: string[] = [];
    idx.afterCommit(() => ran.push("idle"));
    expect(ran).toEqual(["idle"]);
    idx.putEntry(entry("a"));
    idx.afterCommit(() => ran.push("after a"));
    idx.putEntry(entry("b"));
    idx.afterCommit(() => ran.push("after b"));
    expect(ran).toEqual(["idle"]);
    idx.putEntry(entry("c")); // the third row fills the batch, which commits
    expect(ran).toEqual(["idle", "after a", "after b"]);
    idx.putEntry(entry("d"));
    idx.afterCommit(() => ran.push("after d"));
    idx.close();
    expect(ran).toEqual(["idle", "after a", "after b", "after d"]);
  });

  test("a file that is not an index of this version is refused, untouched", () => {
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "index.jsonl is not a database\n");
    expect(() => StagingIndex.open(junk)).toThrow(/junk\.db: is not a usable SQLite database.*nothing was changed/);
    const future = join(dir, "future.db");
    const idx = StagingIndex.open(future);
    idx.putMeta("schema", String(INDEX_SCHEMA_VERSION + 1));
    idx.close();
    expect(() => StagingIndex.open(future)).toThrow(new RegExp(`schema version ${INDEX_SCHEMA_VERSION + 1}, this dr-sync reads ${INDEX_SCHEMA_VERSION}`));
    // A file made with the default encoding (UTF-8) would order names differently: refused too.
    const utf8 = join(dir, "utf8.db");
    const db = new (require("node:sqlite").DatabaseSync)(utf8);
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID; INSERT INTO meta VALUES ('schema', '${INDEX_SCHEMA_VERSION}');`);
    db.close();
    const before = readFileSync(utf8);
    expect(() => StagingIndex.open(utf8)).toThrow(/utf8\.db: is encoded UTF-8, which would not keep names in the service's order/);
    expect(readFileSync(utf8).equals(before)).toBe(true);
    expect(existsSync(`${utf8}-wal`)).toBe(false);
  });
});

describe("the index's order is the Blob service's listing order (Azurite)", () => {
  let sites: LocalSites;
  beforeAll(async () => {
    sites = await startLocalSites({ inMemory: true });
    await seedExact(sites.source, "order", HOSTILE_NAMES.map((name) => ({ name, body: "x" })));
  }, 60_000);
  afterAll(async () => sites?.stop());

  test("Azurite lists the hostile names (small pages, markers between) in the index's cursor order, UTF-16 not UTF-8, and march matches every name", async () => {
    const listed: string[] = [];
    for await (const b of listBlobs(sites.source.container("order"), "order", { side: "source", sasEnv: "X", missing: "error", pageSize: 7 })) listed.push(b.name);
    // Azurite, like Azure, reads a backslash in a name as a slash; every other name comes back as written.
    expect([...listed].sort()).toEqual([...new Set(HOSTILE_NAMES.map((n) => n.replace(/\\/g, "/")))].sort());
    // The index is filled in another order (as pulls over many runs would) and must give back the listing's.
    const idx = StagingIndex.open(join(dir, "c.db"));
    [...listed].reverse().forEach((n) => idx.putEntry(entry(n)));
    expect([...idx.entries()].map((e) => e.name)).toEqual(listed);
    expect([...listed].sort(compareNames)).toEqual(listed);
    expect([...listed].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).not.toEqual(listed);
    const counts = await march(listBlobs(sites.source.container("order"), "order", { side: "source", sasEnv: "X", missing: "error", pageSize: 7 }), idx.entries(), {
      srcOnly: (s) => { throw new Error(`only in source: ${s.name}`); }, dstOnly: (d) => { throw new Error(`only in index: ${d.name}`); }, match: () => undefined,
    });
    expect(counts).toEqual({ srcOnly: 0, dstOnly: 0, match: listed.length });
    idx.close();
  }, 60_000);
});
