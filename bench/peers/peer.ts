import { Measured, runMeasured } from "../measure";

export type ToolName = "recipe" | "rclone" | "dr-sync";
export const TOOL_NAMES: readonly ToolName[] = ["recipe", "rclone", "dr-sync"];

/** Where one tool's run points: its own Azurite (directly), its container, its folders. */
export interface PeerContext {
  /** Loopback port of the Azurite holding the source account. */
  readonly srcPort: number;
  /** Loopback port of the Azurite holding the target account (`srcPort` when one Azurite holds both). */
  readonly dstPort: number;
  readonly container: string;
  /** A private folder for staging, state, logs and config. */
  readonly workDir: string;
  /** Account SAS tokens: source read+list, target read/write/delete/list/add/create. */
  readonly srcSas: string;
  readonly dstSas: string;
  readonly srcAccount: string;
  readonly dstAccount: string;
  /** Node.js flags for dr-sync; none is the contract's command. @default none */
  readonly drSyncNodeFlags?: readonly string[];
}

/** What one replication cycle (source → staging → target) cost and did. */
export interface CycleResult {
  readonly ok: boolean;
  /** The first failure, secrets removed. */
  readonly error?: string;
  readonly wallMs: number;
  /** Peak RSS over the cycle's processes, in KiB; null without GNU time. */
  readonly maxRssKiB: number | null;
  readonly cpuSeconds: number | null;
  /** Blobs written and deleted at the target, as the tool reports them; null when it does not say. */
  readonly copied: number | null;
  readonly deleted: number | null;
}

/** One tool, ready to run cycles against one PeerContext. */
export interface Peer {
  cycle(): Promise<CycleResult>;
}

export interface PeerFactory {
  readonly name: ToolName;
  /** How the report names it. */
  readonly label: string;
  /** Why it cannot run here, or null when it can. */
  missing(): string | null;
  version(): Promise<string>;
  create(ctx: PeerContext): Promise<Peer>;
}

/** One process of a cycle, and how to read the target-side counts from its output. */
export interface Hop {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly counts?: (m: Measured) => { copied: number | null; deleted: number | null };
}

/**
 * Runs the hops of a cycle in order and adds them up: wall and CPU time summed, RSS the peak of either. The
 * counts are the last hop's (the one that writes the target). A failed hop ends the cycle.
 */
export async function runHops(hops: readonly Hop[], redact: (s: string) => string, timeoutMs?: number): Promise<CycleResult> {
  let wallMs = 0;
  let maxRssKiB: number | null = null;
  let cpuSeconds: number | null = null;
  let counts: { copied: number | null; deleted: number | null } = { copied: null, deleted: null };
  for (const hop of hops) {
    const m = await runMeasured(hop.cmd, hop.args, { env: hop.env, timeoutMs });
    wallMs += m.wallMs;
    if (m.maxRssKiB != null) maxRssKiB = Math.max(maxRssKiB ?? 0, m.maxRssKiB);
    if (m.cpuSeconds != null) cpuSeconds = (cpuSeconds ?? 0) + m.cpuSeconds;
    if (hop.counts) counts = hop.counts(m);
    if (m.code !== 0) {
      const tail = (m.stderr.trim() || m.stdout.trim()).split("\n").slice(-4).join(" | ");
      return { ok: false, error: redact(`${hop.cmd.split("/").pop()} exited ${m.code}: ${tail}`).slice(0, 600), wallMs, maxRssKiB, cpuSeconds, ...counts };
    }
  }
  return { ok: true, wallMs, maxRssKiB, cpuSeconds, ...counts };
}

/** Replaces every SAS token in a text, so failures can be reported. */
export function redactor(...secrets: string[]): (s: string) => string {
  return (s) => secrets.filter(Boolean).reduce((out, secret) => out.split(secret).join("<SAS>"), s).replace(/sig=[^&\s"']+/g, "sig=<redacted>");
}

/** An environment without variables that would change a tool's behaviour behind our back. */
export function cleanEnv(prefixes: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!prefixes.some((p) => k.toUpperCase().startsWith(p)) && !/^(https?|no|all)_proxy$/i.test(k)) env[k] = v;
  }
  return env;
}
