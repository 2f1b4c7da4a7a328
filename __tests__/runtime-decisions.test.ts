import { RemoteBlob, StagedEntry } from "../runtime/src/model/blob";
import { decidePull, decidePush } from "../runtime/src/sync/decide";
import { checkDeleteGuard, guardError } from "../runtime/src/sync/delete-guard";

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
    ["new ETag, same size and second", blob({ etag: "0x2" }), staged(), "copy", "source changed (ETag)"],
    ["older timestamp but new ETag", blob({ etag: "0x2", lastModified: "2020-01-01T00:00:00.000Z" }), staged(), "copy", "source changed (ETag)"],
    ["newer timestamp, same ETag", blob({ lastModified: "2030-01-01T00:00:00.000Z" }), staged(), "skip", "same source version (ETag)"],
  ])("%s", (_l, src, st, action, reason) => {
    expect(decidePull(src, st)).toMatchObject({ action, reason });
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
    ["no record, identical destination", staged(), undefined, blob({ etag: "0xF" }), "adopt", "destination already identical (size, Content-MD5, properties, metadata)"],
    ["no record, no MD5 to prove equality", staged({ props: {} }), undefined, blob({ etag: "0xF", props: {} }), "copy", "differs at destination"],
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
