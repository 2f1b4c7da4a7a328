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
  readonly failed: number;
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
    heldBack: s.heldBack, retainedFromDestination: s.retainedFromDestination, failed: s.failed.length,
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
    await writeFileAtomic(join(this.stateDir, "status.json"), JSON.stringify(status, null, 2) + "\n");
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

/** The container's last complete pull, kept beside its staged copy so a later `push` can vouch for it. */
export interface PullMark {
  /** Service time when the pull's listing began. */
  readonly listingStart: string;
  readonly clockSkewSeconds: number;
}

export async function readPullMark(containerDir: string): Promise<PullMark | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(containerDir, "pull.json"), "utf8")) as PullMark;
  } catch {
    return undefined;
  }
}

export async function writePullMark(containerDir: string, mark: PullMark | undefined): Promise<void> {
  if (mark) await writeFileAtomic(join(containerDir, "pull.json"), JSON.stringify(mark));
  else await fs.rm(join(containerDir, "pull.json"), { force: true });
}
