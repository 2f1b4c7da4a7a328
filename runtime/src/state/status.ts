import { promises as fs } from "node:fs";
import { join } from "node:path";
import { HopStats } from "../sync/context";
import { writeFileAtomic } from "../staging/atomic-file";

/** One container's state after a run. */
export interface ContainerStatus {
  readonly container: string;
  /**
   * The recovery point: every change the source had at this moment (by the storage service's clock) is at the
   * target. It advances only when a complete pull and a push without failures both finished. `null` until then.
   */
  readonly recoveryPoint: string | null;
  readonly outcome: "ok" | "failed" | "guard" | "skipped";
  readonly pull?: HopSummary;
  readonly push?: HopSummary;
  readonly error?: string;
  /**
   * Blobs the recovery point does not cover: they failed (or can never replicate as they are) in the cycle that
   * set it, and stand at the target as an earlier cycle left them. The first 100, with why.
   */
  readonly exceptions?: readonly { name: string; error: string }[];
  readonly exceptionCount?: number;
  /** Blobs the dual-write miss journal named since the last run, replicated before the ordinary cycle. */
  readonly dualWriteMisses?: { readonly journaled: number; readonly repaired: number; readonly failed: readonly { name: string; error: string }[] };
}

export interface HopSummary {
  readonly listed: number;
  readonly copied: number;
  readonly adopted: number;
  readonly skipped: number;
  readonly deleted: number;
  readonly bytes: number;
  readonly heldBack: number;
  readonly retainedFromDestination: number;
  readonly staleMd5: number;
  readonly versionsKept: number;
  readonly failed: number;
  readonly refused: number;
  /** The first failures, name and reason. */
  readonly failures: { name: string; error: string }[];
}

/** The record of one run, as `status` shows it and as it is written at the target. */
export interface RunStatus {
  readonly tool: "dr-sync";
  readonly version: string;
  readonly runId: string;
  readonly command: string;
  readonly source: { readonly name: string; readonly host: string };
  readonly target: { readonly name: string; readonly host: string };
  /** Which way this run replicated (the two sites' keys): recovery points never carry over to the other direction. */
  readonly direction?: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly outcome: "ok" | "partial" | "failed" | "guard";
  readonly exitCode: number;
  /** The oldest of the containers' recovery points; null while any container has none. */
  readonly recoveryPoint: string | null;
  /** How far behind the source the target was when this run ended, in seconds (by the service's clock). */
  readonly rpoAchievedSeconds: number | null;
  readonly rpoObjectiveMinutes: number | null;
  /** This machine's clock minus the storage service's, as seen at the last listing. */
  readonly clockSkewSeconds: number | null;
  readonly containers: readonly ContainerStatus[];
  readonly totals: { readonly copied: number; readonly deleted: number; readonly bytes: number; readonly failed: number };
  readonly error?: string;
  /** The shard this record is of, when the pair is split (docs/scale-out.md). */
  readonly shard?: { readonly index: number; readonly count: number };
  /** Set in the record a sharded run writes at the target when it starts; the run's own record replaces it. A
   *  record that still carries it names a run that is going on, or was killed. */
  readonly inProgress?: { readonly runId: string; readonly startedAt: string; readonly host: string };
}

export function summarizeHop(s: HopStats): HopSummary {
  return {
    listed: s.listed, copied: s.copied, adopted: s.adopted, skipped: s.skipped, deleted: s.deleted, bytes: s.bytes,
    heldBack: s.heldBack, retainedFromDestination: s.retainedFromDestination, staleMd5: s.staleMd5, versionsKept: s.versionsKept, failed: s.failed.length, refused: s.refused.length,
    failures: s.failed.slice(0, 20),
  };
}

const HISTORY_LINES = 500;

/** `<stateDir>/status.json` (the last run) and `<stateDir>/history.jsonl` (the last 500). */
export class StatusStore {
  constructor(private readonly stateDir: string) {}

  async read(): Promise<RunStatus | undefined> {
    try {
      return JSON.parse(await fs.readFile(join(this.stateDir, "status.json"), "utf8")) as RunStatus;
    } catch {
      return undefined;
    }
  }

  async write(status: RunStatus): Promise<void> {
    await writeFileAtomic(join(this.stateDir, "status.json"), JSON.stringify(status, null, 2) + "\n", 0o600, { durable: true });
    const historyPath = join(this.stateDir, "history.jsonl");
    let lines: string[] = [];
    try {
      lines = (await fs.readFile(historyPath, "utf8")).split("\n").filter(Boolean);
    } catch {
      // First run.
    }
    lines.push(JSON.stringify(status));
    await writeFileAtomic(historyPath, lines.slice(-HISTORY_LINES).join("\n") + "\n");
  }

  async history(): Promise<RunStatus[]> {
    try {
      return (await fs.readFile(join(this.stateDir, "history.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  }
}

/** One shard as the pair's status sees it. */
export interface ShardView {
  readonly index: number;
  /** `ok`, or the first thing wrong with it: no record, a record of another N, a run not finished, failed, stale. */
  readonly state: "ok" | "missing" | "other-count" | "failed" | "stale" | "no-recovery-point";
  readonly recoveryPoint: string | null;
  readonly record?: RunStatus;
}

/** The pair replicated by N shards, from their N records at the target. */
export interface PairStatus {
  readonly count: number;
  /** The oldest shard's recovery point; null while any shard has none (or no record of this N). */
  readonly recoveryPoint: string | null;
  readonly rpoObjectiveMinutes: number | null;
  readonly shards: readonly ShardView[];
  /** What makes the pair's status fail (exit 1), each naming its shard. */
  readonly problems: readonly string[];
  /** Worth knowing, not a failure: a run going on (or killed less than the objective ago). */
  readonly notes: readonly string[];
  readonly exitCode: 0 | 1;
}

/**
 * Merges the records of shards 0..count-1 (undefined where a shard has none). Pure. A shard that is missing, has a
 * record of another shard count, failed its last run, or whose recovery point is older than the objective fails
 * the pair's status; the pair's recovery point is the oldest shard's, so a shard that stopped holds it back at its
 * last good point. A run that started and has not finished is named, and fails the status once it has been going
 * for longer than the objective.
 */
export function mergeShardStatuses(records: readonly (RunStatus | undefined)[], count: number, now: Date, objectiveMinutes?: number | null): PairStatus {
  const problems: string[] = [];
  const notes: string[] = [];
  const shards: ShardView[] = [];
  let objective: number | null = objectiveMinutes ?? null;
  for (let i = 0; i < count; i++) {
    const r = records[i];
    const name = `shard ${i}/${count}`;
    if (!r) {
      problems.push(`${name}: no status record at the target (it has not run with ${count} shards, or cannot write there)`);
      shards.push({ index: i, state: "missing", recoveryPoint: null });
      continue;
    }
    if (!r.shard || r.shard.count !== count || r.shard.index !== i) {
      problems.push(`${name}: its last record is of ${r.shard ? `shard ${r.shard.index}/${r.shard.count}` : "an unsharded run"}; it has not run with ${count} shards yet`);
      shards.push({ index: i, state: "other-count", recoveryPoint: null, record: r });
      continue;
    }
    const obj = objectiveMinutes ?? r.rpoObjectiveMinutes ?? null;
    objective ??= obj;
    const serviceNow = now.getTime() - (r.clockSkewSeconds ?? 0) * 1000;
    let state: ShardView["state"] = "ok";
    if (r.recoveryPoint === null) {
      problems.push(`${name}: no recovery point yet${r.error ? ` (${r.error})` : ""}`);
      state = "no-recovery-point";
    } else {
      const minutes = Math.floor((serviceNow - Date.parse(r.recoveryPoint)) / 60000);
      if (obj !== null && minutes > obj) {
        problems.push(`${name}: recovery point ${r.recoveryPoint} is ${minutes} minutes old, over the objective of ${obj}`);
        state = "stale";
      }
    }
    if (!r.inProgress && r.exitCode !== 0) {
      problems.push(`${name}: last run ${r.outcome} (exit ${r.exitCode})${r.error ? `: ${r.error}` : ""}`);
      if (state === "ok") state = "failed";
    }
    if (r.inProgress) {
      const running = `${name}: a run started ${r.inProgress.startedAt} on ${r.inProgress.host} has not finished`;
      if (obj !== null && serviceNow - Date.parse(r.inProgress.startedAt) > obj * 60000) problems.push(`${running} within the objective (killed, or stuck)`);
      else notes.push(`${running} (still running, or killed); the pair's recovery point counts its last finished run`);
    }
    shards.push({ index: i, state, recoveryPoint: r.recoveryPoint, record: r });
  }
  const rps = shards.map((s) => (s.state === "missing" || s.state === "other-count" ? null : s.recoveryPoint));
  const recoveryPoint = rps.some((r) => r === null) ? null : rps.reduce<string | null>((min, r) => (min === null || (r as string) < min ? r : min), null);
  return { count, recoveryPoint, rpoObjectiveMinutes: objective, shards, problems, notes, exitCode: problems.length ? 1 : 0 };
}
