import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildSync } from "esbuild";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";
import { HeapPolicyToApply, heapPolicyToApply } from "../runtime/src/config/heap-policy";
import { RUNTIME_NODE } from "./support/harness";

describe("what of the unit's heap policy the Node.js flags left out", () => {
  const growing = RUNTIME_NODE_FLAGS.find((f) => f.startsWith("--heap-growing-percent="))!;
  it.each<[string, string[], string | undefined, HeapPolicyToApply]>([
    ["the contract's plain command: all of it", [], undefined, { capYoungGeneration: true, heapGrowingFlag: growing }],
    ["the VM unit's flags: nothing", [...RUNTIME_NODE_FLAGS], undefined, { capYoungGeneration: false }],
    ["the flags in NODE_OPTIONS: nothing", [], "--require x.js  --max-semi-space-size=8 --heap-growing-percent=50", { capYoungGeneration: false }],
    ["with underscores: nothing", ["--max_semi_space_size=4", "--heap_growing_percent=40"], undefined, { capYoungGeneration: false }],
    ["the semi-space flag and its value apart: the growing percent only", ["--max-semi-space-size", "4"], undefined, { capYoungGeneration: false, heapGrowingFlag: growing }],
    ["a growing percent of its own: kept, the cap still applied", ["--heap-growing-percent=60"], undefined, { capYoungGeneration: true }],
    ["other heap flags only: all of it", ["--max-old-space-size=512"], "--min-semi-space-size=1", { capYoungGeneration: true, heapGrowingFlag: growing }],
    ["a flag that only starts alike: all of it", ["--max-semi-space-sizes=2"], undefined, { capYoungGeneration: true, heapGrowingFlag: growing }],
  ])("%s", (_label, execArgv, nodeOptions, expected) => {
    expect(heapPolicyToApply(execArgv, nodeOptions)).toEqual(expected);
  });
});

describe("capping the young generation from inside the process", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "drsync-young-"));
    // Pages of short-lived objects, the last two kept (as a walk keeps a page and the one asked ahead), with the
    // event loop turning between pages as it does between requests. It prints the largest new space it saw.
    const script = buildSync({
      stdin: {
        resolveDir: __dirname, loader: "ts", contents: `
          import { capYoungGeneration, newSpaceBytes } from "../runtime/src/config/heap-policy";
          if (process.argv[2]) capYoungGeneration(Number(process.argv[2]));
          (async () => {
            const kept: unknown[][] = [];
            let largest = 0;
            for (let round = 0; round < 1500; round++) {
              await new Promise((r) => setImmediate(r));
              const page = [];
              for (let i = 0; i < 1000; i++) page.push({ name: "folder/item-" + round + "-" + i, etag: "0x" + i.toString(16), props: { type: "x".repeat(40) + i } });
              kept.push(page);
              if (kept.length > 2) kept.shift();
              largest = Math.max(largest, newSpaceBytes());
            }
            process.stdout.write(JSON.stringify({ largest }));
          })();`,
      },
      bundle: true, platform: "node", format: "cjs", write: false, logLevel: "silent",
    });
    writeFileSync(join(dir, "pages.js"), script.outputFiles[0].text);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const largestNewSpace = (...args: string[]): number => {
    const r = spawnSync(RUNTIME_NODE, [join(dir, "pages.js"), ...args], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return (JSON.parse(r.stdout) as { largest: number }).largest;
  };
  const MiB = 1024 * 1024;

  test("without the cap V8 grows it past 16 MiB; with a 4 MiB cap it stays at or under 4 MiB", () => {
    // The uncapped run shows the growth the cap is for, so the capped one could fail.
    expect(largestNewSpace()).toBeGreaterThan(16 * MiB);
    expect(largestNewSpace(String(4 * MiB))).toBeLessThanOrEqual(4 * MiB);
  });
});
