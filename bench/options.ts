import { TOOL_NAMES, ToolName } from "./peers/peer";
import { Shape, SHAPES } from "./workload";

/** Sizes and switches of one benchmark run. Every flag has an environment twin: `--small-kib 8` = `BENCH_SMALL_KIB=8`. */
export interface BenchOptions {
  /** @default every tool: recipe, rclone, dr-sync */
  readonly tools: readonly ToolName[];
  /** Repetitions of every workload per tool; the report shows the median and the spread. @default 3 */
  readonly reps: number;
  /** Many small blobs: full, no-op and changed cycles; count 0 skips it. @default 5,000 × 4 KiB */
  readonly small: { readonly count: number; readonly sizeBytes: number };
  /** The name layouts the small blobs are run in, each a workload of its own (`workload.ts`). @default nested, folders, flat */
  readonly shapes: readonly Shape[];
  /** dr-sync's Node.js flags: none, as the contract starts it (`node dr-sync.js run --config F`), or the VM unit's
   *  (`runtime/src/config/node-flags.ts`). @default "none" */
  readonly nodeFlags: "none" | "unit";
  /** Azurite processes: "two", one per site, as two stamps each serve their own account; or "one" holding both
   *  accounts, which answers the two sites' requests one at a time (the bench's layout before 2026-12-01).
   *  @default "two" */
  readonly sites: "one" | "two";
  /** A few large blobs: full and no-op cycles; count 0 skips it. @default 2 × 64 MiB */
  readonly large: { readonly count: number; readonly sizeBytes: number };
  /** Listing time and memory at scale: full and no-op cycles, one repetition; null skips it. Opt-in (`--scale`):
   *  seeding and copying 100,000 blobs three times takes far longer than the rest on a 2-core machine.
   *  @default null (with --scale: 100,000 × 1 KiB) */
  readonly scale: { readonly count: number; readonly sizeBytes: number } | null;
  /** Share of the small blobs changed, and again added and deleted, before the "changed" cycle. @default 1 */
  readonly changePercent: number;
  /** @default bench/results */
  readonly outDir: string;
  /** The Markdown file that shows the latest report; null leaves it alone. @default docs/benchmarks.md */
  readonly docsFile: string | null;
  /** Scratch space (Azurite data, staging folders); emptied afterwards. @default bench/work */
  readonly workDir: string;
  /** Run scripts/bench-setup.sh when a peer is missing. @default true */
  readonly setup: boolean;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  tools: TOOL_NAMES,
  reps: 3,
  small: { count: 5000, sizeBytes: 4 * 1024 },
  shapes: SHAPES,
  nodeFlags: "none",
  sites: "two",
  large: { count: 2, sizeBytes: 64 * 1024 * 1024 },
  scale: null,
  changePercent: 1,
  outDir: "bench/results",
  docsFile: "docs/benchmarks.md",
  workDir: "bench/work",
  setup: true,
};

/** The scale workload's size when `--scale` turns it on. */
export const SCALE_DEFAULT = { count: 100_000, sizeBytes: 1024 };

export const USAGE = `npm run bench -- [options]   (every option also reads BENCH_<NAME>, e.g. BENCH_REPS=5)
  --tools LIST          recipe,rclone,dr-sync (default: all)
  --reps N              repetitions per tool and workload (default 3)
  --small N             small blobs, 0 skips (default 5000)      --small-kib K   their size (default 4)
  --shapes LIST         nested,folders,flat: the small blobs' name layouts, one workload each (default: all)
  --node-flags none|unit  dr-sync's Node.js flags: none (the contract's command, default) or the VM unit's
  --sites two|one       one Azurite per site (default), or one Azurite holding both accounts
  --large N             large blobs, 0 skips (default 2) --large-mib M  their size (default 64)
  --scale / --no-scale  the 100,000-blob listing and memory run, one repetition (default off)
  --scale-count N       (default 100000)                 --scale-kib K   (default 1)
  --change-percent P    changed, added and deleted share before the "changed" cycle (default 1)
  --out DIR             results folder (default bench/results)
  --docs FILE / --no-docs   where the latest report goes (default docs/benchmarks.md)
  --work DIR            scratch folder (default bench/work)
  --no-setup            never run scripts/bench-setup.sh; skip missing peers`;

export class UsageError extends Error {}

const FLAGS = ["tools", "reps", "small", "small-kib", "shapes", "node-flags", "sites", "large", "large-mib", "scale", "scale-count", "scale-kib", "change-percent", "out", "docs", "work", "setup"] as const;
type Flag = (typeof FLAGS)[number];

/** Parses flags, with BENCH_* variables beneath them. Collects every problem before throwing. Pure. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = {}): BenchOptions {
  const raw = new Map<Flag, string>();
  for (const f of FLAGS) {
    const v = env[`BENCH_${f.toUpperCase().replace(/-/g, "_")}`];
    if (v !== undefined && v !== "") raw.set(f, v);
  }
  const errors: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--scale" || arg === "--setup") { raw.set(arg.slice(2) as Flag, "1"); continue; }
    if (arg === "--no-scale" || arg === "--no-setup" || arg === "--no-docs") { raw.set(arg.slice(5) as Flag, "0"); continue; }
    const [name, inline] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (!name || !(FLAGS as readonly string[]).includes(name)) { errors.push(`unknown argument "${arg}"`); continue; }
    const value = inline ?? argv[++i];
    if (value === undefined) { errors.push(`--${name} needs a value`); continue; }
    raw.set(name as Flag, value);
  }
  const int = (f: Flag, def: number, min: number): number => {
    const v = raw.get(f);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) { errors.push(`--${f} must be a whole number ≥ ${min} (got "${v}")`); return def; }
    return n;
  };
  const bool = (f: Flag, def: boolean): boolean => {
    const v = raw.get(f);
    if (v === undefined) return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    errors.push(`--${f} must be on or off (got "${v}")`);
    return def;
  };
  const d = DEFAULT_OPTIONS;
  // A comma-separated subset of `all`, kept in `all`'s order.
  const subset = <T extends string>(f: Flag, all: readonly T[], def: readonly T[]): readonly T[] => {
    if (!raw.has(f)) return def;
    const list = raw.get(f)!.split(",").map((t) => t.trim()).filter(Boolean);
    const bad = list.filter((t) => !(all as readonly string[]).includes(t));
    if (!bad.length && list.length) return all.filter((t) => list.includes(t));
    errors.push(`--${f} must list some of ${all.join(", ")} (got "${raw.get(f)}")`);
    return def;
  };
  const tools = subset("tools", TOOL_NAMES, d.tools);
  const shapes = subset("shapes", SHAPES, d.shapes);
  const nodeFlagsRaw = raw.get("node-flags") ?? d.nodeFlags;
  if (nodeFlagsRaw !== "none" && nodeFlagsRaw !== "unit") errors.push(`--node-flags must be none or unit (got "${nodeFlagsRaw}")`);
  const sitesRaw = raw.get("sites") ?? d.sites;
  if (sitesRaw !== "one" && sitesRaw !== "two") errors.push(`--sites must be one or two (got "${sitesRaw}")`);
  const changeRaw = raw.get("change-percent");
  const changePercent = changeRaw === undefined ? d.changePercent : Number(changeRaw);
  if (!(changePercent > 0 && changePercent <= 30)) errors.push(`--change-percent must be more than 0 and at most 30 (got "${changeRaw}")`);
  const smallCount = int("small", d.small.count, 0);
  const opts: BenchOptions = {
    tools,
    reps: int("reps", d.reps, 1),
    small: { count: smallCount, sizeBytes: int("small-kib", d.small.sizeBytes / 1024, 1) * 1024 },
    shapes,
    nodeFlags: nodeFlagsRaw === "unit" ? "unit" : "none",
    sites: sitesRaw === "one" ? "one" : "two",
    large: { count: int("large", d.large.count, 0), sizeBytes: int("large-mib", d.large.sizeBytes / 1048576, 1) * 1048576 },
    scale: bool("scale", d.scale !== null)
      ? { count: int("scale-count", SCALE_DEFAULT.count, 1), sizeBytes: int("scale-kib", SCALE_DEFAULT.sizeBytes / 1024, 1) * 1024 }
      : null,
    changePercent,
    outDir: raw.get("out") ?? d.outDir,
    docsFile: raw.get("docs") === "0" ? null : raw.get("docs") ?? d.docsFile,
    workDir: raw.get("work") ?? d.workDir,
    setup: bool("setup", d.setup),
  };
  if (!opts.small.count && !opts.large.count && !opts.scale) errors.push("every workload is off: give --small, --large or --scale");
  if (errors.length) throw new UsageError(`bench: ${errors.join("; ")}\n${USAGE}`);
  return opts;
}
