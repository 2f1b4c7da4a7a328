/** Reads the target-side counts out of each tool's own report. Pure; each returns nulls when it finds nothing. */

export interface Counts {
  readonly copied: number | null;
  readonly deleted: number | null;
}

const none: Counts = { copied: null, deleted: null };

/** AzCopy with `--output-type=json`: one JSON message per line; the `EndOfJob` one holds the totals. */
export function parseAzCopyJson(stdout: string): Counts {
  for (const line of stdout.split("\n").reverse()) {
    if (!line.includes("EndOfJob")) continue;
    try {
      const msg = JSON.parse(line) as { MessageType?: string; MessageContent?: string };
      if (msg.MessageType !== "EndOfJob" || !msg.MessageContent) continue;
      const c = JSON.parse(msg.MessageContent) as Record<string, unknown>;
      const num = (k: string) => (c[k] === undefined ? null : Number(c[k]));
      return { copied: num("TransfersCompleted"), deleted: num("DeleteTransfersCompleted") };
    } catch {
      continue;
    }
  }
  return none;
}

/** rclone with `--use-json-log --stats-log-level NOTICE`: the last line with a `stats` object. */
export function parseRcloneJsonLog(stderr: string): Counts {
  for (const line of stderr.split("\n").reverse()) {
    if (!line.includes('"stats"')) continue;
    try {
      const s = (JSON.parse(line) as { stats?: { transfers?: number; deletes?: number } }).stats;
      if (s) return { copied: s.transfers ?? null, deleted: s.deletes ?? null };
    } catch {
      continue;
    }
  }
  return none;
}

/** dr-sync `run --json`: the RunStatus; the push hop's counts are the target's. */
export function parseDrSyncStatus(stdout: string): Counts {
  try {
    const s = JSON.parse(stdout) as { containers?: { push?: { copied?: number; deleted?: number } }[] };
    const pushes = (s.containers ?? []).map((c) => c.push).filter((p): p is { copied?: number; deleted?: number } => !!p);
    if (!pushes.length) return none;
    return { copied: pushes.reduce((a, p) => a + (p.copied ?? 0), 0), deleted: pushes.reduce((a, p) => a + (p.deleted ?? 0), 0) };
  } catch {
    return none;
  }
}
