import { compareNames } from "../runtime/src/index/blob-name";
import { march, OutOfOrderListingError } from "../runtime/src/sync/march";

type Item = { readonly name: string };
const items = (...names: string[]): Item[] => names.map((name) => ({ name }));

async function* slowly<T>(xs: readonly T[]): AsyncGenerator<T> {
  for (const x of xs) {
    await new Promise((r) => setImmediate(r));
    yield x;
  }
}

async function walk(src: Iterable<Item> | AsyncIterable<Item>, dst: Iterable<Item> | AsyncIterable<Item>): Promise<string[]> {
  const calls: string[] = [];
  await march(src, dst, {
    srcOnly: (s) => void calls.push(`src:${s.name}`),
    dstOnly: (d) => void calls.push(`dst:${d.name}`),
    match: (s, d) => void calls.push(`both:${s.name}=${d.name}`),
  });
  return calls;
}

describe("compareNames: the service's listing order (UTF-16 code units)", () => {
  it.each([
    ["a", "b", -1], ["b", "a", 1], ["a", "a", 0], ["a", "ab", -1], ["", "a", -1],
    ["A", "a", -1], ["Z", "a", -1], ["caf\u00e9", "cafe\u0301", 1], ["a/b", "a.b", 1], ["a b", "a/b", -1],
    // Outside the BMP: UTF-16 puts the surrogate pair before U+E000-U+FFFF, as the service does (UTF-8 would not).
    ["\uFF01", "\u{1F600}", 1], ["\u{1F600}", "\uFF01", -1], ["\uE000", "\u{10000}", 1], ["\uD7FF", "\u{10000}", -1],
    ["x\u{1F600}", "x\uFFFD", -1], ["\u{1F600}", "\u{1F601}", -1], ["\u{1F600}", "\u{10FFFF}", -1], ["\u{1F600}", "\u{1F600}a", -1],
  ])("%j vs %j is %d", (a, b, want) => {
    expect(Math.sign(compareNames(a, b))).toBe(want);
    expect(Math.sign(compareNames(b, a)) + want).toBe(0);
  });

  test("agrees with a sort by UTF-16BE bytes, and not with UTF-8 bytes, on names mixing BMP and non-BMP characters", () => {
    const alphabet = ["a", "\u00e9", "\uD7FF", "\uE000", "\uFF01", "\uFFFD", "\u{10000}", "\u{1F600}", "\u{10FFFF}"];
    const names: string[] = [];
    for (const x of alphabet) for (const y of alphabet) names.push(x + y, x);
    const utf16be = (n: string) => Buffer.from(n, "utf16le").swap16();
    const byUnits = [...new Set(names)].sort((a, b) => Buffer.compare(utf16be(a), utf16be(b)));
    expect([...byUnits].reverse().sort(compareNames)).toEqual(byUnits);
    expect([...byUnits].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).not.toEqual(byUnits);
  });
});

describe("march: one walk, three callbacks", () => {
  it.each<[string, string[], string[], string[]]>([
    ["both empty", [], [], []],
    ["source only", ["a", "b"], [], ["src:a", "src:b"]],
    ["destination only", [], ["a", "b"], ["dst:a", "dst:b"]],
    ["equal names", ["a", "b"], ["a", "b"], ["both:a=a", "both:b=b"]],
    ["interleaved", ["a", "c", "e"], ["b", "c", "d", "f"], ["src:a", "dst:b", "both:c=c", "dst:d", "src:e", "dst:f"]],
    ["prefix names", ["dir", "dir/child"], ["dir/child", "dir0"], ["src:dir", "both:dir/child=dir/child", "dst:dir0"]],
    ["non-BMP before U+FFxx", ["o-\u{1F600}", "o-\uFF01"], ["o-\u{1F600}"], ["both:o-\u{1F600}=o-\u{1F600}", "src:o-\uFF01"]],
    ["non-BMP against BMP", ["\u{1F600}"], ["\uFF01"], ["src:\u{1F600}", "dst:\uFF01"]],
    ["NFC and NFD twins are different names", ["caf\u00e9"], ["cafe\u0301"], ["dst:cafe\u0301", "src:caf\u00e9"]],
    ["case twins are different names", ["README.md", "readme.md"], ["Readme.md", "readme.md"], ["src:README.md", "dst:Readme.md", "both:readme.md=readme.md"]],
  ])("%s", async (_, src, dst, want) => {
    expect(await walk(items(...src), items(...dst))).toEqual(want);
    expect(await walk(slowly(items(...src)), slowly(items(...dst)))).toEqual(want);
    expect(await walk(slowly(items(...src)), items(...dst))).toEqual(want);
    expect(await walk(items(...src), slowly(items(...dst)))).toEqual(want);
  });

  // The walk stops at the bad name: callbacks already made stand (deletions are only candidates until the walk
  // ends), and none is made for the bad name or after it.
  it.each<[string, string[], string[], "source" | "destination", string, string, string[]]>([
    ["a source name repeated", ["a", "b", "b"], ["a"], "source", "b", "b", ["both:a"]],
    ["a source name going back", ["a", "c", "b"], ["a", "b", "c"], "source", "c", "b", ["both:a", "dst:b"]],
    ["a destination name going back", ["a"], ["b", "a"], "destination", "b", "a", ["src:a"]],
    ["UTF-8 order in the source", ["\uFF01", "\u{1F600}"], [], "source", "\uFF01", "\u{1F600}", []],
    ["UTF-8 order in the destination", [], ["x\uFFFD", "x\u{1F600}"], "destination", "x\uFFFD", "x\u{1F600}", []],
  ])("%s is an OutOfOrderListingError", async (_, src, dst, side, previous, next, made) => {
    const calls: string[] = [];
    // The source arrives as pages do (asynchronously), the destination as the index's cursor does (synchronously).
    const run = march(slowly(items(...src)), items(...dst), {
      srcOnly: (s) => void calls.push(`src:${s.name}`), dstOnly: (d) => void calls.push(`dst:${d.name}`), match: (s) => void calls.push(`both:${s.name}`),
    });
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfOrderListingError);
    expect(err).toMatchObject({ side, previous, next, message: expect.stringContaining("nothing was deleted") });
    expect(calls).toEqual(made);
  });

  test("awaits each callback before the next, and counts each kind", async () => {
    const log: string[] = [];
    const counts = await march(items("a", "b", "c"), items("b", "d"), {
      srcOnly: async (s) => { await new Promise((r) => setTimeout(r, 5)); log.push(`src:${s.name}`); },
      dstOnly: (d) => void log.push(`dst:${d.name}`),
      match: async (s) => { await new Promise((r) => setImmediate(r)); log.push(`both:${s.name}`); },
    });
    expect(log).toEqual(["src:a", "both:b", "src:c", "dst:d"]);
    expect(counts).toEqual({ srcOnly: 2, dstOnly: 1, match: 1 });
  });

  test("a failing callback stops the walk with its own error", async () => {
    const seen: string[] = [];
    await expect(march(items("a", "b", "c"), [], {
      srcOnly: (s) => { seen.push(s.name); if (s.name === "b") throw new Error("boom"); }, dstOnly: () => undefined, match: () => undefined,
    })).rejects.toThrow("boom");
    expect(seen).toEqual(["a", "b"]);
  });
  test.each([
    ["a callback that throws", items("a", "b", "c"), items("b", "c", "d"), (name: string) => { if (name === "b") throw new Error("boom"); }, "boom"],
    ["a side out of order", items("a", "c", "b"), items("a", "b", "c"), () => undefined, OutOfOrderListingError],
  ] as const)("%s: both listings are closed (a listing's request asked ahead is ended with it)", async (_label, src, dst, onName, error) => {
    const closed: string[] = [];
    // A listing that finishes its work only when closed, as listPages cancels its page asked ahead in its finally.
    async function* listing(side: string, xs: readonly Item[]): AsyncGenerator<Item> {
      try {
        for (const x of xs) {
          await new Promise((r) => setImmediate(r));
          yield x;
        }
      } finally {
        closed.push(side);
      }
    }
    await expect(march(listing("source", src), listing("destination", dst), {
      srcOnly: (s) => onName(s.name), dstOnly: (d) => onName(d.name), match: (s) => onName(s.name),
    })).rejects.toThrow(error);
    await new Promise((r) => setImmediate(r));
    expect(closed.sort()).toEqual(["destination", "source"]);
  });
});
