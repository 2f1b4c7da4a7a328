import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { buildSync } from "esbuild";
import { RUNTIME_NODE_FLAGS } from "../runtime/src/config/node-flags";
import { V8PolicyToApply, v8PolicyToApply } from "../runtime/src/config/v8-policy";

/** The "compiled by Turbofan" bit of V8's %GetOptimizationStatus on the pinned Node.js (kTurboFanned; found by a hot
 *  function under --no-maglev, which sets it, and --no-turbofan, which sets the Maglev bit below it instead). */
const TURBOFANNED = 1 << 5;
import { RUNTIME_NODE } from "./support/harness";

describe("what of the unit's V8 policy the Node.js flags left out", () => {
  const growing = RUNTIME_NODE_FLAGS.find((f) => f.startsWith("--heap-growing-percent="))!;
  const all: V8PolicyToApply = { capYoungGeneration: true, flags: [growing, "--no-turbofan"] };
  it.each<[string, string[], string | undefined, V8PolicyToApply]>([
    ["the contract's plain command: all of it", [], undefined, all],
    ["the VM unit's flags: nothing", [...RUNTIME_NODE_FLAGS], undefined, { capYoungGeneration: false, flags: [] }],
    ["the heap flags in NODE_OPTIONS (where V8's compiler flags are not allowed): the compiler tier only", [], "--require x.js  --max-semi-space-size=8 --heap-growing-percent=50",
      { capYoungGeneration: false, flags: ["--no-turbofan"] }],
    ["with underscores: nothing", ["--max_semi_space_size=4", "--heap_growing_percent=40", "--no_turbofan"], undefined, { capYoungGeneration: false, flags: [] }],
    ["the semi-space flag and its value apart: the rest", ["--max-semi-space-size", "4"], undefined, { capYoungGeneration: false, flags: all.flags }],
    ["a growing percent of its own: kept, the rest applied", ["--heap-growing-percent=60"], undefined, { capYoungGeneration: true, flags: ["--no-turbofan"] }],
    ["Turbofan asked for: kept on", ["--turbofan"], undefined, { capYoungGeneration: true, flags: [growing] }],
    ["Turbofan by its alias, either way: kept as given", ["--opt"], undefined, { capYoungGeneration: true, flags: [growing] }],
    ["--no-opt: kept as given", ["--no-opt"], undefined, { capYoungGeneration: true, flags: [growing] }],
    ["other heap and compiler flags only: all of it", ["--max-old-space-size=512", "--no-maglev"], "--min-semi-space-size=1", all],
    ["flags that only start alike: all of it", ["--max-semi-space-sizes=2", "--turbofan-inline-date-accessors"], undefined, all],
  ])("%s", (_label, execArgv, nodeOptions, expected) => {
    expect(v8PolicyToApply(execArgv, nodeOptions)).toEqual(expected);
  });
});

describe("V8's top compiler tier switched off from inside the process", () => {
  const hot = `function f(x) { let s = 0; for (let i = 0; i < 100; i++) s += (x * i) % 7; return s; }
    let t = 0; for (let i = 0; i < 200000; i++) t += f(i);
    process.stdout.write(String((%GetOptimizationStatus(f) & ${TURBOFANNED}) !== 0));`;
  const turbofanned = (prelude: string): boolean => {
    const r = spawnSync(RUNTIME_NODE, ["--allow-natives-syntax", "-e", prelude + hot], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    return r.stdout === "true";
  };

  test("a hot function is compiled by Turbofan by default, and not once the policy's flags are set", () => {
    // The default run shows what the flag is for, so the other could fail.
    expect(turbofanned("")).toBe(true);
    expect(turbofanned(`require("node:v8").setFlagsFromString(${JSON.stringify(RUNTIME_NODE_FLAGS.find((f) => f.includes("turbofan")))});`)).toBe(false);
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
          import { capYoungGeneration, newSpaceBytes } from "../runtime/src/config/v8-policy";
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
