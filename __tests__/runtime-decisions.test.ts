import { RemoteBlob, StagedEntry } from "../runtime/src/model/blob";
import { decidePull, decidePush } from "../runtime/src/sync/decide";
import { checkDeleteGuard, guardError } from "../runtime/src/sync/delete-guard";
import { checkOverwriteGuard, overwriteGuardError } from "../runtime/src/sync/overwrite-guard";
import { planAsOf } from "../runtime/src/versions/point-in-time";
import { VersionEntry } from "../runtime/src/versions/target-versions";

const blob = (o: Partial<RemoteBlob> = {}): RemoteBlob => ({
  name: "a", etag: "0x1", size: 10, lastModified: "2026-01-01T00:00:00.000Z", kind: "BlockBlob",
  props: { contentType: "text/plain", contentMD5: "md5A" }, metadata: { k: "v" }, ...o,
});
const staged = (o: Partial<StagedEntry> = {}): StagedEntry => ({
  name: "a", srcEtag: "0x1", size: 10, lastModified: "2026-01-01T00:00:00.000Z", kind: "BlockBlob",
  props: { contentType: "text/plain", contentMD5: "md5A" }, metadata: { k: "v" }, dataFile: "f", ...o,
});

describe("pull decisions", () => {
  it.each([
    ["not staged yet", blob(), undefined, "copy", "missing in staging"],
    ["same ETag", blob(), staged(), "skip", "same source version (ETag)"],
    ["new ETag, same size and second", blob({ etag: "0x2", props: { contentMD5: "md5B" } }), staged(), "copy", "source changed (ETag)"],
    ["older timestamp but new ETag", blob({ etag: "0x2", lastModified: "2020-01-01T00:00:00.000Z", props: {} }), staged(), "copy", "source changed (ETag)"],
    ["new ETag, same size and Content-MD5", blob({ etag: "0x2", metadata: { k: "w" } }), staged(), "copy", "source properties or metadata changed (ETag; same size and Content-MD5)"],
    ["newer timestamp, same ETag", blob({ lastModified: "2030-01-01T00:00:00.000Z" }), staged(), "skip", "same source version (ETag)"],
    ["an append blob that grew", blob({ etag: "0x2", kind: "AppendBlob", size: 20 }), staged({ kind: "AppendBlob" }), "copy", "source appended to (ETag; the append blob grew)"],
  ])("%s", (_l, src, st, action, reason) => {
    expect(decidePull(src, st)).toMatchObject({ action, reason });
  });

  // A grown append blob is an overwrite only if its old end changed, which the pull compares before the guards count.
  it.each([
    ["grew", blob({ etag: "0x2", kind: "AppendBlob", size: 20 }), staged({ kind: "AppendBlob" }), { overwrites: true, checkAppended: true }],
    ["grew from empty", blob({ etag: "0x2", kind: "AppendBlob", size: 20 }), staged({ kind: "AppendBlob", size: 0 }), { overwrites: true, checkAppended: true }],
    ["shrank: re-created", blob({ etag: "0x2", kind: "AppendBlob", size: 5, props: {} }), staged({ kind: "AppendBlob" }), { overwrites: true, checkAppended: undefined }],
    ["same size, new ETag", blob({ etag: "0x2", kind: "AppendBlob" }), staged({ kind: "AppendBlob" }), { overwrites: true, checkAppended: undefined }],
    ["a block blob that grew", blob({ etag: "0x2", size: 20 }), staged(), { overwrites: true, checkAppended: undefined }],
    ["was a block blob, now a longer append blob", blob({ etag: "0x2", kind: "AppendBlob", size: 20 }), staged(), { overwrites: true, checkAppended: undefined }],
  ] as const)("append blobs: %s", (_l, src, st, expected) => {
    const d = decidePull(src, st);
    expect(d.action).toBe("copy");
    expect({ overwrites: (d as { overwrites: boolean }).overwrites, checkAppended: (d as { checkAppended?: boolean }).checkAppended }).toEqual(expected);
  });

  it.each([
    ["new content, same size", blob({ etag: "0x2", props: { contentMD5: "md5B" } }), staged(), true],
    ["no Content-MD5 to tell", blob({ etag: "0x2", props: {} }), staged(), true],
    ["metadata only (same size and MD5)", blob({ etag: "0x2", metadata: { k: "w" } }), staged(), false],
    ["same as the staged MD5 we took, stored one stale", blob({ etag: "0x2", props: { contentMD5: "ours" } }), staged({ stagedMd5: "ours" }), false],
    // The stored MD5 was already stale when staged: its still being the same says nothing of the new bytes.
    ["same stored MD5 as staged, which was not the staged bytes' own", blob({ etag: "0x2" }), staged({ stagedMd5: "ours" }), true],
    // Put Page and Append Block never update the stored Content-MD5.
    ["a page blob rewritten, its stored MD5 unchanged", blob({ etag: "0x2", kind: "PageBlob" }), staged({ kind: "PageBlob", stagedMd5: "md5A" }), true],
    ["an append blob written to, its stored MD5 unchanged", blob({ etag: "0x2", kind: "AppendBlob" }), staged({ kind: "AppendBlob", stagedMd5: "md5A" }), true],
    ["emptied (the delete guard's)", blob({ etag: "0x2", size: 0 }), staged(), false],
    ["new blob", blob(), undefined, false],
  ])("overwrite for the mass-change guard: %s", (_l, src, st, overwrites) => {
    expect(decidePull(src, st)).toMatchObject({ action: "copy", overwrites });
  });

  test("a rewrite to zero bytes is flagged as emptying, so the guard counts it", () => {
    expect(decidePull(blob({ etag: "0x2", size: 0 }), staged())).toMatchObject({ action: "copy", empties: true });
    expect(decidePull(blob({ etag: "0x2", size: 0 }), staged({ size: 0 }))).toMatchObject({ action: "copy", empties: false });
  });
});

describe("push decisions", () => {
  const rec = { srcEtag: "0x1", dstEtag: "0xD" };
  it.each([
    ["missing at destination", staged(), undefined, undefined, "copy", "missing at destination"],
    ["pushed, then deleted behind our back", staged(), rec, undefined, "copy", "deleted at destination behind our back"],
    ["pushed and unchanged", staged(), rec, blob({ etag: "0xD" }), "skip", "destination holds the staged version"],
    ["pushed, then changed behind our back", staged(), rec, blob({ etag: "0xE" }), "copy", "changed at destination behind our back (ETag)"],
    ["source changed since push", staged({ srcEtag: "0x2", props: { contentMD5: "md5B" } }), rec, blob({ etag: "0xD" }), "copy", "source changed since last push"],
    // The listing keeps no properties for blobs exactly as we wrote them, so a new source version is copied, never adopted.
    ["source changed since push, destination identical to it", staged({ srcEtag: "0x2" }), rec, blob({ etag: "0xD" }), "copy", "source changed since last push"],
    // Its old end is compared before the mass-change guard counts it (append-growth.ts).
    ["an append blob appended to since push", staged({ srcEtag: "0x2", kind: "AppendBlob", size: 20, props: {} }), rec, blob({ etag: "0xD", kind: "AppendBlob", props: {} }), "copy", "source appended to since last push"],
    ["no record, identical destination", staged(), undefined, blob({ etag: "0xF" }), "adopt", "destination already identical (size, Content-MD5, properties, metadata)"],
    ["no record, no MD5 to prove equality: bytes compared", staged({ props: {} }), undefined, blob({ etag: "0xF", props: {} }), "copy", "same size, properties and metadata at destination, no Content-MD5: bytes compared first"],
    ["no record, no MD5, other size", staged({ props: {} }), undefined, blob({ etag: "0xF", props: {}, size: 11 }), "copy", "differs at destination"],
    ["no record, identical destination, the MD5 taken of the staged bytes agrees", staged({ stagedMd5: "md5A" }), undefined, blob({ etag: "0xF" }), "adopt", "destination already identical (size, Content-MD5, properties, metadata)"],
    // Both stored MD5s are the same stale value: the staged bytes' own MD5 is another, so the bytes are compared.
    ["no record, same stale Content-MD5 at both: bytes compared", staged({ stagedMd5: "md5X" }), undefined, blob({ etag: "0xF" }), "copy", "same size, properties and metadata at destination, the stored Content-MD5 is not the staged bytes' own (stale): bytes compared first"],
    ["no record, a page blob with the same stored MD5: bytes compared", staged({ kind: "PageBlob", stagedMd5: "md5A" }), undefined, blob({ etag: "0xF", kind: "PageBlob" }), "copy", "same size, properties and metadata at destination, a page or append blob's stored Content-MD5 does not cover its later writes: bytes compared first"],
    ["no record, an append blob with the same stored MD5: bytes compared", staged({ kind: "AppendBlob", stagedMd5: "md5A" }), undefined, blob({ etag: "0xF", kind: "AppendBlob" }), "copy", "same size, properties and metadata at destination, a page or append blob's stored Content-MD5 does not cover its later writes: bytes compared first"],
    ["no record, metadata differs", staged(), undefined, blob({ etag: "0xF", metadata: { k: "other" } }), "copy", "differs at destination"],
    ["no record, content type differs", staged(), undefined, blob({ etag: "0xF", props: { contentType: "x", contentMD5: "md5A" } }), "copy", "differs at destination"],
  ])("%s", (_l, st, r, dst, action, reason) => {
    expect(decidePush(st, r, dst)).toMatchObject({ action, reason });
  });
});

describe("delete guard", () => {
  const limits = { maxDeletePercent: 50, maxDeleteCount: null };
  const input = (existing: number, deletes: number, empties = 0) => ({ hop: "push" as const, container: "images", where: "target", existing, deletes, empties });
  it.each([
    ["nothing destructive", input(10, 0), limits, true],
    ["exactly half", input(10, 5), limits, true],
    ["more than half", input(10, 6), limits, false],
    ["everything", input(4, 4), limits, false],
    ["emptied blobs count as deletions", input(10, 3, 3), limits, false],
    ["count limit", input(1000, 11), { maxDeletePercent: 50, maxDeleteCount: 10 }, false],
    ["within the count limit", input(1000, 10), { maxDeletePercent: 50, maxDeleteCount: 10 }, true],
    ["percent 100 allows everything", input(4, 4), { maxDeletePercent: 100, maxDeleteCount: null }, true],
    ["percent 0 allows nothing", input(100, 1), { maxDeletePercent: 0, maxDeleteCount: null }, false],
  ])("%s", (_l, i, l, ok) => {
    expect(checkDeleteGuard(i, l).ok).toBe(ok);
  });

  test("the message says what stopped, what was left alone and how to proceed on purpose", () => {
    const i = input(10, 9);
    const v = checkDeleteGuard(i, limits);
    expect(v.ok).toBe(false);
    const err = guardError(i, (v as { reason: string }).reason);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/9 deletion\(s\) would remove 90\.0% of the 10 blob\(s\) in target, more than guards\.maxDeletePercent 50%/);
    expect(err.message).toMatch(/Nothing was deleted or emptied in target/);
    expect(err.message).toMatch(/--allow-mass-delete images/);
  });
});

describe("push overwrites, for the mass-change guard", () => {
  const rec = { srcEtag: "0x1", dstEtag: "0xD", md5: "md5A" };
  it.each([
    ["new content over a blob we wrote (the record's MD5)", staged({ srcEtag: "0x2", stagedMd5: "md5B", props: { contentMD5: "md5B" } }), rec, blob({ etag: "0xD", props: {} }), true],
    ["metadata only over a blob we wrote", staged({ srcEtag: "0x2", stagedMd5: "md5A" }), rec, blob({ etag: "0xD", props: {} }), false],
    ["a record without an MD5 (older version) cannot tell", staged({ srcEtag: "0x2", stagedMd5: "md5A" }), { srcEtag: "0x1", dstEtag: "0xD" }, blob({ etag: "0xD", props: {} }), true],
    ["changed behind our back, same content as staged", staged({ stagedMd5: "md5A" }), rec, blob({ etag: "0xE" }), false],
    ["missing at destination", staged(), rec, undefined, false],
    ["a page blob changed behind our back, its stored MD5 as staged", staged({ kind: "PageBlob", stagedMd5: "md5A" }), rec, blob({ etag: "0xE", kind: "PageBlob" }), true],
  ])("%s", (_l, st, r, dst, overwrites) => {
    expect(decidePush(st, r, dst)).toMatchObject({ action: "copy", overwrites });
  });
});

describe("mass-change guard", () => {
  const limits = { maxOverwritePercent: 50, maxOverwriteCount: null, minOverwritesForPercent: 0 };
  const input = (existing: number, overwrites: number) => ({ hop: "pull" as const, container: "docs", where: "staging", existing, overwrites });
  it.each([
    ["nothing overwritten", input(10, 0), limits, true],
    ["exactly half", input(10, 5), limits, true],
    ["60% rewritten", input(10, 6), limits, false],
    ["an empty destination: no blob to overwrite", input(0, 0), limits, true],
    ["count limit", input(1000, 11), { ...limits, maxOverwriteCount: 10 }, false],
    ["within the count limit", input(1000, 10), { ...limits, maxOverwriteCount: 10 }, true],
    ["percent 100 allows everything", input(4, 4), { ...limits, maxOverwritePercent: 100 }, true],
    ["a small container: 3 of 3 within the floor of 10", input(3, 3), { ...limits, minOverwritesForPercent: 10 }, true],
    ["above the floor the share applies", input(20, 12), { ...limits, minOverwritesForPercent: 10 }, false],
  ])("%s", (_l, i, l, ok) => {
    expect(checkOverwriteGuard(i, l).ok).toBe(ok);
  });

  test("the message names the container, the share and the limit, and how to proceed on purpose", () => {
    const i = input(10, 6);
    const v = checkOverwriteGuard(i, limits);
    expect(v.ok).toBe(false);
    const msg = overwriteGuardError(i, (v as { reason: string }).reason).message;
    expect(msg).toBe('mass-change guard stopped the pull of container "docs": 6 overwrite(s) would replace the content of 60.0% of the 10 blob(s) in staging, ' +
      "more than guards.maxOverwritePercent 50%. Nothing was overwritten in staging: the last good copy is still there and at the target. " +
      "If this is intended (check the source first: `dr-sync plan` lists every overwrite), run once with --allow-mass-change docs, or raise guards.maxOverwritePercent / guards.maxOverwriteCount in the config.");
  });
});

describe("point in time: which version was live", () => {
  const at = (s: string) => `2026-12-01T${s}.000Z`;
  const cur = (name: string, lastModified: string): RemoteBlob => blob({ name, etag: `e-${name}`, lastModified: at(lastModified) });
  const ver = (name: string, writtenAt: string, keptAt: string, reason: VersionEntry["reason"] = "overwritten by a push"): VersionEntry => ({
    name, version: `v/${name}@${writtenAt}`, writtenAt: at(writtenAt), keptAt: at(keptAt), reason, etag: "x", size: 1, kind: "BlockBlob",
  });
  const T = new Date(at("10:00:00"));
  it.each([
    ["unchanged since before T", [cur("a", "09:00:00")], [], { action: "keep" }],
    ["overwritten after T: the version written before T comes back", [cur("a", "11:00:00")], [ver("a", "09:00:00", "11:00:00")], { action: "restore", version: expect.objectContaining({ writtenAt: at("09:00:00") }) }],
    ["overwritten twice after T: still the one live at T", [cur("a", "12:00:00")], [ver("a", "09:00:00", "11:00:00"), ver("a", "11:00:00", "12:00:00")], { action: "restore", version: expect.objectContaining({ writtenAt: at("09:00:00") }) }],
    ["overwritten before and after T: the one written in between", [cur("a", "12:00:00")], [ver("a", "08:00:00", "09:30:00"), ver("a", "09:30:00", "12:00:00")], { action: "restore", version: expect.objectContaining({ writtenAt: at("09:30:00") }) }],
    ["created after T: removed", [cur("a", "10:30:00")], [], { action: "remove" }],
    ["deleted after T: comes back", [], [ver("a", "09:00:00", "10:30:00", "deleted by a push")], { action: "restore" }],
    ["deleted before T, recreated after: removed", [cur("a", "11:00:00")], [ver("a", "08:00:00", "09:00:00", "deleted by a push")], { action: "remove" }],
    ["deleted before T and gone: nothing to do", [], [ver("a", "08:00:00", "09:00:00", "deleted by a push")], undefined],
    ["written exactly at T: live at T", [cur("a", "10:00:00")], [], { action: "keep" }],
    // A line is durable before its write, which may then fail (a refused condition, deletions held back): still live.
    ["a deletion recorded before T that did not happen: kept", [cur("a", "08:00:00")], [ver("a", "08:00:00", "09:00:00", "deleted by a push")], { action: "keep" }],
    ["an overwrite recorded before T that did not happen: kept", [cur("a", "08:00:00")], [ver("a", "08:00:00", "09:00:00")], { action: "keep" }],
    ["a deletion recorded before T that did not happen, the blob replaced after T: its version comes back",
      [cur("a", "11:00:00")], [ver("a", "08:00:00", "09:00:00", "deleted by a push"), ver("a", "08:00:00", "11:00:00")], { action: "restore", version: expect.objectContaining({ keptAt: at("11:00:00") }) }],
    ["a deletion recorded before T that did not happen, the blob deleted after T: it comes back",
      [], [ver("a", "08:00:00", "09:00:00", "deleted by a push"), ver("a", "08:00:00", "10:30:00", "deleted by a push")], { action: "restore" }],
  ] as const)("%s", (_l, current, history, expected) => {
    const actions = planAsOf(current as readonly RemoteBlob[], history as readonly VersionEntry[], T);
    if (expected === undefined) expect(actions).toEqual([]);
    else expect(actions).toEqual([expect.objectContaining({ name: "a", ...expected })]);
  });

  test("a prefix limits the plan to its names", () => {
    const actions = planAsOf([cur("keep/a", "11:00:00"), cur("other/b", "11:00:00")], [], T, "keep/");
    expect(actions.map((a) => a.name)).toEqual(["keep/a"]);
  });
});
