import { PairStatus, RunStatus } from "../state/status";
import { formatBytes, formatDuration } from "./progress";

/** The human summary of a run: one line per container, then the recovery point. */
export function formatRunSummary(s: RunStatus): string {
  const lines = [`dr-sync ${s.command}: ${s.outcome.toUpperCase()} (${s.source.name} ${s.source.host} -> ${s.target.name} ${s.target.host})`];
  for (const c of s.containers) {
    const parts: string[] = [];
    if (c.pull) parts.push(`pull ${c.pull.copied} copied, ${c.pull.deleted} deleted, ${c.pull.skipped} unchanged, ${c.pull.failed} failed, ${formatBytes(c.pull.bytes)}`);
    if (c.push) parts.push(`push ${c.push.copied} copied${c.push.adopted ? `, ${c.push.adopted} adopted` : ""}, ${c.push.deleted} deleted, ${c.push.skipped} unchanged, ${c.push.failed} failed, ${formatBytes(c.push.bytes)}`);
    lines.push(`  ${c.container}: ${c.outcome}${parts.length ? ` | ${parts.join(" | ")}` : ""}`);
    if (c.error) lines.push(`    ${c.error}`);
    for (const f of [...(c.pull?.failures ?? []), ...(c.push?.failures ?? [])].slice(0, 10)) lines.push(`    failed: ${JSON.stringify(f.name)}: ${f.error}`);
    if (c.exceptionCount) {
      lines.push(`    recovery point ${c.recoveryPoint ?? "none"} covers every blob but ${c.exceptionCount}, which stand at the target as an earlier cycle left them:`);
      for (const e of (c.exceptions ?? []).slice(0, 10)) lines.push(`      ${JSON.stringify(e.name)}: ${e.error}`);
    }
    if (c.dualWriteMisses) {
      lines.push(`    dual-write misses: ${c.dualWriteMisses.journaled} journaled since the last run, ${c.dualWriteMisses.repaired} replicated first` +
        (c.dualWriteMisses.failed.length ? `, ${c.dualWriteMisses.failed.length} failed (the ordinary cycle tries again)` : ""));
    }
    const stale = c.pull?.staleMd5 ?? 0;
    if (stale) lines.push(`    ${stale} source blob(s) carry a stale Content-MD5; replicated as served, the stored value as it is`);
    const held = (c.pull?.heldBack ?? 0) + (c.push?.heldBack ?? 0);
    if (held) lines.push(`    ${held} deletion(s) held back because transfers failed; the next clean run applies them`);
    const kept = c.push?.retainedFromDestination ?? 0;
    if (kept) lines.push(`    ${kept} target copy(ies) we held no copy of were kept in the retention area before being replaced or deleted`);
  }
  const dur = (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000;
  lines.push(`recovery point: ${s.recoveryPoint ?? "none yet"}${s.rpoAchievedSeconds !== null ? ` (RPO achieved ${formatDuration(s.rpoAchievedSeconds)})` : ""}; took ${formatDuration(dur)}`);
  if (s.error) lines.push(`run stopped: ${s.error}`);
  return lines.join("\n");
}

/** `status`: the last run, and how old its recovery point is now. */
export function formatStatus(s: RunStatus | undefined, now: Date): string {
  if (!s) return "no run recorded yet";
  const lines = [formatRunSummary(s)];
  if (s.recoveryPoint) {
    const age = (now.getTime() - (s.clockSkewSeconds ?? 0) * 1000 - Date.parse(s.recoveryPoint)) / 1000;
    lines.push(`current exposure: ${formatDuration(Math.max(0, age))} since the recovery point` +
      (s.rpoObjectiveMinutes ? ` (objective ${s.rpoObjectiveMinutes}m: ${age <= s.rpoObjectiveMinutes * 60 ? "met" : "MISSED"})` : ""));
  }
  return lines.join("\n");
}

/** The pair's status merged from its shards' records: one line per shard, then what is wrong. */
export function formatPairStatus(p: PairStatus): string {
  const lines = [`pair of ${p.count} shards: recovery point ${p.recoveryPoint ?? "none (a shard has none)"}` +
    (p.rpoObjectiveMinutes ? `, objective ${p.rpoObjectiveMinutes}m` : "")];
  for (const s of p.shards) {
    const r = s.record;
    lines.push(`  shard ${s.index}/${p.count}: ${s.state}, recovery point ${s.recoveryPoint ?? "none"}` +
      (r ? `, last run ${r.inProgress ? `started ${r.inProgress.startedAt}, not finished` : `${r.outcome} ${r.endedAt}`}, ${r.containers.length} container(s)` : ""));
  }
  for (const m of p.problems) lines.push(`problem: ${m}`);
  for (const m of p.notes) lines.push(`note: ${m}`);
  return lines.join("\n");
}

