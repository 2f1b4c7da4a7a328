import { parseArgs, UsageError } from "../runtime/src/cli/args";
import { ConfigError, validateConfig } from "../runtime/src/config/schema";
import { compareNames } from "../runtime/src/index/blob-name";
import { parseListBlobsXml } from "../runtime/src/listing/list-xml";
import { mergeScopedListing, TopLevelItem } from "../runtime/src/listing/part-listing";
import { RemoteBlob } from "../runtime/src/model/blob";
import { containerPart, housekeepingContainers, ownedContainers, ownsName, scratchPrefixFor, topLevelKey } from "../runtime/src/shard/part";
import { SCRATCH_PREFIX } from "../runtime/src/transfer/file-to-page-or-append";
import { rendezvousOwner } from "../runtime/src/shard/rendezvous";
import { indexFromHostname, resolveShard, shardDirs, statusBlobName } from "../runtime/src/shard/shard-spec";
import { mergeShardStatuses } from "../runtime/src/state/status";
import { mergeRanges } from "../runtime/src/sync/adopt-same-bytes";
import { RunStatus } from "../runtime/src/state/status";
import { HOSTILE_NAMES } from "./support/hostile-names";

const base = {
  source: { blobEndpoint: "https://src.blob.example.com/", sasEnv: "S" },
  target: { blobEndpoint: "https://dst.blob.example.com/", sasEnv: "T" },
  containers: ["alpha", "beta", "gamma", "delta", "big"],
  stagingDir: "/var/lib/dr-sync/staging",
  stateDir: "/var/lib/dr-sync/state",
};

describe("the split: rendezvous owners", () => {
  const keys = Array.from({ length: 3000 }, (_, i) => `k-${i}`);

  test("every key has exactly one owner in 0..N-1, the same every time", () => {
    for (const n of [1, 2, 3, 4, 7]) {
      for (const k of keys.slice(0, 300)) {
        const o = rendezvousOwner(k, n);
        expect(o).toBeGreaterThanOrEqual(0);
        expect(o).toBeLessThan(n);
        expect(rendezvousOwner(k, n)).toBe(o);
      }
    }
  });

  it.each([[3, 2], [2, 3], [4, 3], [3, 4], [1, 4], [4, 1]])("N %i -> %i moves only the keys of shards that appear or disappear", (from, to) => {
    let moved = 0;
    for (const k of keys) {
      const a = rendezvousOwner(k, from);
      const b = rendezvousOwner(k, to);
      if (a === b) continue;
      moved++;
      // Shrinking: only keys of a removed shard move. Growing: keys only move to a new shard.
      if (to < from) expect(a).toBeGreaterThanOrEqual(to);
      else expect(b).toBeGreaterThanOrEqual(from);
    }
    // About |1/from - 1/to| of the keys move; never (close to) all of them, as modulo hashing would do.
    const expected = Math.abs(Math.min(from, to) / Math.max(from, to) - 1) * keys.length;
    expect(Math.abs(moved - expected)).toBeLessThan(keys.length * 0.06);
  });

  test("the shares are even (within 10% of 1/N for 3,000 keys)", () => {
    for (const n of [2, 3, 4]) {
      const counts = Array(n).fill(0);
      for (const k of keys) counts[rendezvousOwner(k, n)]++;
      for (const c of counts) expect(Math.abs(c - keys.length / n)).toBeLessThan(keys.length / n * 0.1);
    }
  });
});

describe("the split: parts of containers", () => {
  const spec = (index: number, count: number, split: string[] = ["big"]) => ({ index, count, split });

  test("no shard: every container whole, every name owned", () => {
    expect(containerPart(undefined, "alpha")).toEqual({ kind: "whole" });
    expect(ownedContainers(base.containers, undefined)).toEqual(base.containers);
  });

  test("whole containers go to exactly one shard; a split container is in every shard's list", () => {
    const owners = new Map<string, number[]>();
    for (let i = 0; i < 3; i++) {
      for (const c of ownedContainers(base.containers, spec(i, 3))) owners.set(c, [...(owners.get(c) ?? []), i]);
    }
    expect(owners.get("big")).toEqual([0, 1, 2]);
    for (const c of ["alpha", "beta", "gamma", "delta"]) expect(owners.get(c)).toHaveLength(1);
  });

  test("housekeeping at the target: whole containers by their owner, split ones by shard 0 only", () => {
    const all = [0, 1, 2].flatMap((i) => housekeepingContainers(base.containers, spec(i, 3)));
    expect(all.sort()).toEqual([...base.containers].sort());
    expect(housekeepingContainers(base.containers, spec(0, 3))).toContain("big");
    expect(housekeepingContainers(base.containers, undefined)).toEqual(base.containers);
  });

  it.each([
    ["a/b/c", "a"], ["a", "a"], ["a/", "a"], ["/x", ""], ["a//b", "a"], ["dir/child/grandchild", "dir"], ["x".repeat(1024), "x".repeat(1024)],
  ])("top-level key of %j is %j", (name, key) => {
    expect(topLevelKey(name)).toBe(key);
  });

  test("every name of a split container (hostile ones too) is owned by exactly one of N shards, by its top-level prefix", () => {
    const names = [...HOSTILE_NAMES, ...Array.from({ length: 400 }, (_, i) => `p${i % 20}/item-${i}`), "top-level-blob"];
    for (const n of [2, 3, 5]) {
      const parts = Array.from({ length: n }, (_, i) => containerPart(spec(i, n), "big"));
      for (const name of names) {
        const owners = parts.filter((p) => ownsName(p, name));
        expect(owners).toHaveLength(1);
        // The names of one top-level prefix stay together.
        expect(parts.filter((p) => ownsName(p, `${topLevelKey(name)}/another`))).toEqual(owners);
      }
    }
  });

  test("scratch blobs in a split container belong to the shard that wrote them (never deleted by another mid-copy); untagged ones to shard 0", () => {
    const parts = [0, 1, 2].map((i) => containerPart(spec(i, 3), "big"));
    expect(scratchPrefixFor(undefined)).toBe(SCRATCH_PREFIX);
    for (let i = 0; i < 3; i++) {
      const mine = `${scratchPrefixFor(spec(i, 3))}0123abcd`;
      expect(mine.startsWith(SCRATCH_PREFIX)).toBe(true);
      expect(parts.map((p) => ownsName(p, mine))).toEqual([0, 1, 2].map((j) => j === i));
      // Every shard expands the scratch prefix of the top-level listing, to find its own.
      expect(ownsName(parts[i], SCRATCH_PREFIX)).toBe(true);
    }
    expect(parts.map((p) => ownsName(p, `${SCRATCH_PREFIX}0123abcd`))).toEqual([true, false, false]);
  });

  test("a whole container's part owns all its names, or none", () => {
    const owner = [0, 1, 2].find((i) => containerPart(spec(i, 3), "alpha").kind === "whole")!;
    for (let i = 0; i < 3; i++) {
      const part = containerPart(spec(i, 3), "alpha");
      expect(part.kind).toBe(i === owner ? "whole" : "none");
      expect(ownsName(part, "any/name")).toBe(i === owner);
    }
  });
});

describe("the scoped listing: one stream in the service's name order", () => {
  const blob = (name: string): RemoteBlob => ({ name, etag: "0x1", size: 1, lastModified: "2026-12-01T00:00:00.000Z", kind: "BlockBlob", props: {}, metadata: {} });
  const names = [...HOSTILE_NAMES, "p/1", "p/2", "q", "q/1", "o-/x", "/lead", "dir/"].filter((n, i, all) => all.indexOf(n) === i);

  /** The service: a delimiter listing (top-level blobs and prefixes, in order) and a prefix listing. */
  const topLevel = (): TopLevelItem[] => {
    const items = new Map<string, TopLevelItem>();
    for (const n of names) {
      const slash = n.indexOf("/");
      if (slash < 0) items.set(n, { blob: blob(n) });
      else items.set(n.slice(0, slash + 1), { prefix: n.slice(0, slash + 1) });
    }
    return [...items.entries()].sort(([a], [b]) => compareNames(a, b)).map(([, v]) => v);
  };
  async function* underPrefix(prefix: string): AsyncGenerator<RemoteBlob> {
    for (const n of [...names].sort(compareNames)) if (n.startsWith(prefix)) yield blob(n);
  }
  async function* pages(items: TopLevelItem[], size: number): AsyncGenerator<TopLevelItem[]> {
    for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
  }

  it.each([[1], [3], [1000]])("the union of 3 shards' streams (pages of %i) is every name once, each stream in order", async (pageSize) => {
    const all: string[] = [];
    for (let i = 0; i < 3; i++) {
      const part = containerPart({ index: i, count: 3, split: ["big"] }, "big");
      const got: string[] = [];
      for await (const b of mergeScopedListing(pages(topLevel(), pageSize), underPrefix, (n) => ownsName(part, n))) got.push(b.name);
      expect([...got].sort(compareNames)).toEqual(got);
      for (const n of got) expect(ownsName(part, n)).toBe(true);
      all.push(...got);
    }
    expect(all.sort(compareNames)).toEqual([...names].sort(compareNames));
  });

  test("a top-level page out of order stops the listing (never a shorter listing)", async () => {
    const items = topLevel().reverse();
    const run = async () => {
      for await (const _ of mergeScopedListing(pages(items, 2), underPrefix, () => true)) void _;
    };
    await expect(run()).rejects.toThrow(/out of order/);
  });

  test("the XML parser reads BlobPrefix entries of a delimiter listing, and blobs beside them", () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/" ContainerName="big"><Delimiter>/</Delimiter>` +
      `<Blobs><Blob><Name>top</Name><Properties><Content-Length>1</Content-Length><Etag>0x1</Etag><BlobType>BlockBlob</BlobType></Properties><Metadata/></Blob>` +
      `<BlobPrefix><Name>a&amp;b/</Name></BlobPrefix><BlobPrefix><Name>p/</Name></BlobPrefix></Blobs><NextMarker>m</NextMarker></EnumerationResults>`;
    const page = parseListBlobsXml(xml);
    expect(page.blobs.map((b) => b.name)).toEqual(["top"]);
    expect(page.prefixes).toEqual(["a&b/", "p/"]);
    expect(page.nextMarker).toBe("m");
  });
});

describe("the shard: config key, flag, hostname", () => {
  it.each([
    [{ count: 3, index: 1 }, undefined, "x", { index: 1, count: 3, split: [] }],
    [{ count: 3, index: 1, split: ["big"] }, { index: 2, count: 4 }, "x", { index: 2, count: 4, split: ["big"] }],
    [{ count: 12, indexFrom: "hostname" }, undefined, "drsyncvm00000a", { index: 10, count: 12, split: [] }],
    [{ count: 40, indexFrom: "hostname" }, undefined, "prefix-00000Z", { index: 35, count: 40, split: [] }],
    [undefined, { index: 0, count: 2 }, "x", { index: 0, count: 2, split: [] }],
    [undefined, undefined, "x", undefined],
    [{ count: 1, index: 0 }, undefined, "x", undefined],
  ])("config %j, flag %j, host %j -> %j", (shard, flag, host, expected) => {
    const config = validateConfig({ ...base, ...(shard ? { shard } : {}) });
    expect(resolveShard(config, flag, host)).toEqual(expected);
  });

  it.each([
    [{ count: 0, index: 0 }, /shard\.count must be a whole number from 1 to 1000 \(got 0\)/],
    [{ count: 3, index: 3 }, /shard\.index must be below shard\.count \(3\); shards count from 0 to 2 \(got 3\)/],
    [{ count: 3, index: -1 }, /shard\.index must be a whole number/],
    [{ count: 3, index: 1, indexFrom: "hostname" }, /shard\.index and shard\.indexFrom exclude each other/],
    [{ count: 3, indexFrom: "nodename" }, /shard\.indexFrom must be "hostname" \(got "nodename"\)/],
    [{ count: 3, index: 0, split: ["nope"] }, /shard\.split\[0\] must be one of the replicated containers \(got "nope"\)/],
    [{ count: 3, index: 0, colour: 1 }, /shard\.colour is not a known key/],
    ["3/1", /shard must be an object/],
  ])("config error: %j", (shard, message) => {
    expect(() => validateConfig({ ...base, shard })).toThrow(ConfigError);
    expect(() => validateConfig({ ...base, shard })).toThrow(message);
  });

  it.each([
    [{ count: 4, indexFrom: "hostname" }, undefined, "drsyncvm00000z", /shard\.indexFrom "hostname": the index from host name "drsyncvm00000z" is 35, not below shard\.count \(4\)/],
    [{ count: 4, indexFrom: "hostname" }, undefined, "web-1", /shard\.indexFrom "hostname": host name "web-1" does not end in 6 base-36 characters/],
    [{ count: 4 }, undefined, "x", /shard: shard\.index or shard\.indexFrom is needed, or --shard i\/N on the command line/],
  ])("resolve error: config %j, flag %j, host %j", (shard, flag, host, message) => {
    const config = validateConfig({ ...base, shard });
    expect(() => resolveShard(config, flag, host)).toThrow(ConfigError);
    expect(() => resolveShard(config, flag, host)).toThrow(message);
  });

  it.each([["000000", 0], ["00000a", 10], ["0000ZZ", 1295], ["vm000010", 36]])("hostname %j -> index %i", (host, index) => {
    expect(indexFromHostname(host)).toBe(index);
  });

  it.each([["a-b"], ["vm-00-0a"], [""]])("hostname %j has no index", (host) => {
    expect(indexFromHostname(host)).toBeUndefined();
  });

  it.each([
    [["run", "--config", "c", "--shard", "0/3"], { shard: { index: 0, count: 3 } }],
    [["verify", "--config", "c", "--shard=2/3"], { shard: { index: 2, count: 3 } }],
  ])("flag %j", (argv, expected) => {
    expect(parseArgs(argv)).toMatchObject(expected);
  });

  it.each([
    [["run", "--config", "c", "--shard", "3/3"], /--shard i\/N needs i from 0 to N-1 \(got "3\/3"\)/],
    [["run", "--config", "c", "--shard", "1"], /--shard must be i\/N, like 0\/3 \(got "1"\)/],
    [["run", "--config", "c", "--shard", "0/0"], /--shard i\/N needs N from 1 to 1000 \(got "0\/0"\)/],
    [["run", "--config", "c", "--shard", "-1/3"], /--shard must be i\/N/],
  ])("flag error %j", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  test("paths and the status record: as today without shards, per index with them", () => {
    const config = validateConfig(base);
    expect(shardDirs(config, undefined)).toEqual({ stagingDir: base.stagingDir, stateDir: base.stateDir });
    expect(shardDirs(config, { index: 2, count: 3, split: [] })).toEqual({ stagingDir: `${base.stagingDir}/shard-2`, stateDir: `${base.stateDir}/shard-2` });
    expect(statusBlobName("src", undefined)).toBe("src.json");
    expect(statusBlobName("src", { index: 2, count: 3, split: [] })).toBe("src/shard-2.json");
  });
});

describe("the pair's status: shards merged", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const record = (index: number, count: number, recoveryPoint: string | null, extra: Partial<RunStatus> = {}): RunStatus => ({
    tool: "dr-sync", version: "0", runId: `r${index}`, command: "run", source: { name: "source", host: "s" }, target: { name: "target", host: "t" },
    direction: "s -> t", startedAt: "2026-12-01T11:58:00.000Z", endedAt: "2026-12-01T11:59:00.000Z", outcome: "ok", exitCode: 0, recoveryPoint,
    rpoAchievedSeconds: 60, rpoObjectiveMinutes: 15, clockSkewSeconds: 0, containers: [], totals: { copied: 0, deleted: 0, bytes: 0, failed: 0 },
    shard: { index, count }, ...extra,
  });

  it.each([
    ["all fresh: the oldest shard's point", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 3, "2026-12-01T11:50:00.000Z"), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: "2026-12-01T11:50:00.000Z", exitCode: 0, problems: [] }],
    ["one missing", [record(0, 3, "2026-12-01T11:58:00.000Z"), undefined, record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: null, exitCode: 1, problems: [expect.stringMatching(/^shard 1\/3: no status record at the target/)] }],
    ["one stale", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 3, "2026-12-01T11:00:00.000Z"), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: "2026-12-01T11:00:00.000Z", exitCode: 1, problems: [expect.stringMatching(/^shard 1\/3: recovery point 2026-12-01T11:00:00.000Z is 60 minutes old, over the objective of 15/)] }],
    ["one from another N", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 2, "2026-12-01T11:58:00.000Z"), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: null, exitCode: 1, problems: [expect.stringMatching(/^shard 1\/3: its last record is of shard 1\/2/)] }],
    ["one failed", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 3, "2026-12-01T11:57:00.000Z", { outcome: "partial", exitCode: 1 }), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: "2026-12-01T11:55:00.000Z", exitCode: 1, problems: [expect.stringMatching(/^shard 1\/3: last run partial \(exit 1\)/)] }],
    ["one not finished, stale (killed long ago)", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 3, "2026-12-01T11:40:00.000Z", { inProgress: { runId: "x", startedAt: "2026-12-01T11:41:00.000Z", host: "vm1" } }), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: "2026-12-01T11:40:00.000Z", exitCode: 1, problems: [expect.stringMatching(/^shard 1\/3: recovery point .* over the objective/),
        expect.stringMatching(/^shard 1\/3: a run started 2026-12-01T11:41:00.000Z on vm1 has not finished within the objective \(killed, or stuck\)/)] }],
    ["one not finished, recently started (running, or killed): named, the pair stays at its last good point", [record(0, 3, "2026-12-01T11:58:00.000Z"), record(1, 3, "2026-12-01T11:50:00.000Z", { inProgress: { runId: "x", startedAt: "2026-12-01T11:59:00.000Z", host: "vm1" } }), record(2, 3, "2026-12-01T11:55:00.000Z")],
      { recoveryPoint: "2026-12-01T11:50:00.000Z", exitCode: 0, problems: [], notes: [expect.stringMatching(/^shard 1\/3: a run started 2026-12-01T11:59:00.000Z on vm1 has not finished \(still running, or killed\)/)] }],
    ["none has a recovery point yet", [record(0, 3, null), record(1, 3, "2026-12-01T11:58:00.000Z"), record(2, 3, "2026-12-01T11:58:00.000Z")],
      { recoveryPoint: null, exitCode: 1, problems: [expect.stringMatching(/^shard 0\/3: no recovery point yet/)] }],
  ])("%s", (_what, records, expected) => {
    const merged = mergeShardStatuses(records as (RunStatus | undefined)[], 3, now);
    expect(merged).toMatchObject(expected);
    expect(merged.shards).toHaveLength(3);
  });
});

describe("adoption by bytes: a page blob's written pages, however the service splits them", () => {
  it.each([
    [[], []],
    [[[0, 512]], [[0, 512]]],
    [[[512, 512], [0, 512]], [[0, 1024]]],
    [[[0, 512], [1024, 512]], [[0, 512], [1024, 512]]],
    [[[0, 1024], [512, 1024]], [[0, 1536]]],
    [[[0, 0], [2048, 512]], [[2048, 512]]],
  ])("%j -> %j", (ranges, merged) => {
    expect(mergeRanges(ranges as [number, number][])).toEqual(merged);
  });
});

