import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { RUNTIME_NODE_FLAGS } from "./node-flags";

/**
 * The young generation's size (V8's new space) past which a run started without the unit's flags stops growing it.
 * V8 doubles the new space while much of what it holds survives a scavenge, up to 64 MiB on this Node.js line: a
 * no-op of 5,000 blobs ends at 21 MiB, one of 100,000 at 64 (heap headroom, not data, but resident all the same),
 * so without a cap the contract's plain `node dr-sync.js run` grows with the container. The unit's
 * `--max-semi-space-size=2` is tighter and costs CPU; 16 MiB keeps most of the default's speed.
 */
export const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/** What of the unit's V8 policy a process must apply itself, because its Node.js flags did not. */
export interface V8PolicyToApply {
  /** Cap the young generation (no `--max-semi-space-size` given). */
  readonly capYoungGeneration: boolean;
  /** The unit's flags V8 reads while the process runs, of those not given, in the unit's order: the growing percent
   *  (read at each full collection) and the compiler tier (read at each tier-up). */
  readonly flags: readonly string[];
}

/** The unit's flags a process can still set after start-up (by name: `flagName`); the semi-space size it cannot. */
const SET_WHILE_RUNNING: ReadonlySet<string> = new Set(["heap-growing-percent", "turbofan"]);

/** V8's other names for a flag (`--opt` is `--turbofan`). */
const ALIASES: Readonly<Record<string, string>> = { opt: "turbofan" };

/** A flag's name, whatever its form: no dashes before it, no `no-`, no value, `-` for `_`, aliases resolved. */
export function flagName(flag: string): string {
  let name = flag.replace(/^--?/, "").split("=")[0].replace(/_/g, "-");
  if (name.startsWith("no-")) name = name.slice(3);
  return ALIASES[name] ?? name;
}

/**
 * Which parts of the VM unit's V8 policy (`RUNTIME_NODE_FLAGS`) the Node.js flags, on the command line or in
 * NODE_OPTIONS, left out. A flag given is never overridden, whatever its value (`--turbofan` keeps Turbofan on).
 */
export function v8PolicyToApply(execArgv: readonly string[], nodeOptions: string | undefined): V8PolicyToApply {
  const given = new Set([...execArgv, ...(nodeOptions ?? "").split(/\s+/)].filter((f) => f.startsWith("-")).map(flagName));
  return {
    capYoungGeneration: !given.has("max-semi-space-size"),
    flags: RUNTIME_NODE_FLAGS.filter((f) => SET_WHILE_RUNNING.has(flagName(f)) && !given.has(flagName(f))),
  };
}

/**
 * Applies from inside the process what the flags left out of the unit's V8 policy, so that the contract's plain
 * `node dr-sync.js run` keeps its memory flat as the container grows, and spends no more CPU, as the unit does.
 * Measured on Node.js 26: `--heap-growing-percent` set at run time takes effect (a garbage-heavy script: 233 MiB
 * peak without, 169 with it set so, 168 with it on the command line), and so does `--no-turbofan` (a hot function
 * is then compiled by Maglev, as with the flag on the command line: `runtime-v8-policy.test.ts`);
 * `--max-semi-space-size` does not (V8 sizes the semi-spaces at start-up), hence the cap of `capYoungGeneration`.
 * Node.js calls flags changed after start-up unpredictable; these are ones V8 reads when it next sizes a space or
 * next optimizes a function, every test that spawns the runtime without flags runs through them, and a process
 * that died of it would be a crash the kill suite already proves harmless. The unit gives the flags on the command
 * line, where Node.js supports them.
 */
export function applyV8Policy(policy: V8PolicyToApply): void {
  for (const flag of policy.flags) setFlagsFromString(flag);
  if (policy.capYoungGeneration) capYoungGeneration();
}

/**
 * Keeps V8's young generation at or under `capBytes`. Its growth factor is read at each growth: set to 1, the new
 * space stays where it is. A collection's entry reaches the observer only after the collection, when the event
 * loop next turns, and a busy stretch lets the space double once more before that (16 → 32 MiB, measured with the
 * check at the cap); so growth stops once the space reaches half the cap, and that last doubling lands on it.
 * It stops watching by itself once growth is stopped.
 */
export function capYoungGeneration(capBytes: number = YOUNG_GENERATION_CAP_BYTES): void {
  const observer = new PerformanceObserver(() => {
    if (newSpaceBytes() * 2 < capBytes) return;
    setFlagsFromString("--semi-space-growth-factor=1");
    observer.disconnect();
  });
  observer.observe({ entryTypes: ["gc"] });
}

/** The new space's current size (both semi-spaces), as V8 reports it. */
export function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
}
