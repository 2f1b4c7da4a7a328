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
