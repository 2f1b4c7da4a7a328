import { formatBytes } from "../../runtime/src/report/progress";
import { StepRecord } from "./steps";
import { ApplicationReport } from "./app-loop";

/** One replication run of the drill and the checks after it. */
export interface CycleReport {
  /** "cycle 1", "failback", "switch back". */
  readonly label: string;
  /** Site labels, reading -> writing. */
  readonly direction: string;
  /** What the application changed at the reading site since the previous run. */
  readonly changes: { readonly written: number; readonly deleted: number };
  readonly copied: number;
  readonly adopted: number;
  readonly deleted: number;
  /** Bytes moved by the run, both hops (source → staging, staging → target). */
  readonly bytes: number;
  /** Destination copies the run kept in the retention area before replacing or deleting them. */
  readonly retainedFromDestination: number;
  readonly recoveryPoint: string | null;
  readonly rpoSeconds: number | null;
  readonly runSeconds: number;
  /** `dr-sync verify --json`: blobs compared and differences found. */
  readonly verify: { readonly ok: boolean; readonly compared: number; readonly differences: number };
  /** The drill's own comparison of both sites (bytes, properties, metadata) after the run. */
  readonly fidelity: { readonly blobs: number; readonly bytes: number; readonly withMetadata: number; readonly contentTypes: number; readonly differences: number };
}

export interface RetainedReport {
  readonly container: string;
  readonly name: string;
  readonly reason: string;
  readonly size: number;
  readonly site: string;
}

export interface SiteReport {
  readonly label: string;
  readonly endpoint: string;
  readonly local: string;
}

export interface DrillReport {
  readonly ok: boolean;
  /** The step that failed, when one did. */
  readonly failedStep?: string;
  readonly error?: string;
  readonly environment?: string;
  /** systemd `OnCalendar=` the VM's timer would use. */
  readonly schedule?: string;
  readonly containers: readonly string[];
  readonly sites?: { readonly source: SiteReport; readonly target: SiteReport };
  readonly seeded?: { readonly blobs: number; readonly bytes: number; readonly largeBlobs: readonly number[] };
  readonly cycles: readonly CycleReport[];
  readonly disaster?: {
    readonly unreachable: string;
    /** The recovery point of the last run before the disaster. */
    readonly lastRecoveryPoint: string | null;
    /** Written at the source after the last run, so never replicated. */
    readonly unreplicated: { readonly container: string; readonly name: string; readonly size: number };
    readonly unreplicatedAtTarget: boolean;
  };
  readonly failover?: {
    readonly activeEndpoint: string;
    readonly replication: string;
    readonly secondsToFailover: number;
    readonly blobsRead: number;
    readonly blobsWritten: number;
  };
  readonly failback?: {
    readonly retained: readonly RetainedReport[];
    /** The unreplicated blob is in the retention area, byte for byte. */
    readonly unreplicatedKept: boolean;
    readonly blobsReadAfterSwitchBack: number;
  };
  /** The application using the failover-aware client (stackhub-dr/client) across the whole drill. */
  readonly application?: ApplicationReport;
  /** The VM back with its pre-disaster direction, refused by the live target's fence. */
  readonly fenced?: { readonly exitCode: number; readonly message: string };
  readonly steps: readonly StepRecord[];
  readonly totalSeconds: number;
}

const secs = (n: number | null | undefined) => (n === null || n === undefined ? "-" : `${n < 10 ? n.toFixed(1) : Math.round(n)} s`);

/** The report as an operator reads it: what was replicated, how faithfully, how far behind, and what failover took. */
export function formatReport(r: DrillReport): string {
  const lines: string[] = [];
  lines.push("", `DR drill report${r.environment ? ` - environment "${r.environment}"` : ""}`);
  if (r.schedule) lines.push(`  schedule      OnCalendar=${r.schedule} on the VM; the drill ran its cycles back-to-back`);
  if (r.sites) {
    for (const role of ["source", "target"] as const) {
      const s = r.sites[role];
      lines.push(`  ${role.padEnd(13)} ${s.label}: ${s.endpoint} (here ${s.local})`);
    }
  }
  if (r.containers.length) lines.push(`  containers    ${r.containers.join(", ")}`);
  if (r.seeded) {
    lines.push(`  seeded        ${r.seeded.blobs} blobs, ${formatBytes(r.seeded.bytes)}` +
      `${r.seeded.largeBlobs.length ? ` (large: ${r.seeded.largeBlobs.map(formatBytes).join(", ")})` : ""}`);
  }
  if (r.cycles.length) {
    lines.push("", "  run           direction              changes    copied adopted deleted     moved     RPO  verify  sites compared");
    for (const c of r.cycles) {
      const changes = c.changes.written || c.changes.deleted ? `+${c.changes.written} -${c.changes.deleted}` : "-";
      lines.push(`  ${c.label.padEnd(13)} ${c.direction.padEnd(22)} ${changes.padEnd(9)} ${String(c.copied).padStart(7)} ${String(c.adopted).padStart(7)} ` +
        `${String(c.deleted).padStart(7)} ${formatBytes(c.bytes).padStart(9)} ${secs(c.rpoSeconds).padStart(7)}  ` +
        `${(c.verify.ok ? "ok" : "FAIL").padEnd(6)}  ${c.fidelity.blobs} blobs, ${formatBytes(c.fidelity.bytes)}${c.fidelity.differences ? `, ${c.fidelity.differences} DIFFERENCES` : ", equal"}`);
    }
    const last = r.cycles[r.cycles.length - 1];
    lines.push("", `  fidelity      after every run both sites were read in full: bytes (SHA-256), content type, encoding, language,`,
      `                disposition, cache control, Content-MD5 and metadata of every blob (${last.fidelity.contentTypes} content types,` +
      ` ${last.fidelity.withMetadata} of ${last.fidelity.blobs} blobs with metadata)`);
    const rpos = r.cycles.map((c) => c.rpoSeconds).filter((x): x is number => x !== null);
    if (rpos.length) lines.push(`  RPO achieved  ${Math.min(...rpos)}-${Math.max(...rpos)} s behind the reading site at the end of each run (dr-sync run --json)`);
  }
  if (r.disaster) {
    const d = r.disaster;
    lines.push("", `  disaster      source unreachable (${d.unreachable})`,
      `                last recovery point ${d.lastRecoveryPoint ?? "none"}; ${d.unreplicated.container}/${d.unreplicated.name} was written after it` +
      ` and ${d.unreplicatedAtTarget ? "IS at the target (unexpected)" : "is not at the target, as expected"}`);
  }
  if (r.failover) {
    const f = r.failover;
    lines.push(`  failover      activeSite=target rendered: applications use ${f.activeEndpoint}, replication ${f.replication}`,
      `                ${f.blobsRead} known blobs read back from the target (bytes, properties, metadata correct), ${f.blobsWritten} written there`,
      `                time to fail over: ${secs(f.secondsToFailover)} (source lost -> application served by the target)`);
  }
  if (r.fenced) {
    lines.push(`  fence         the VM back with its old direction (source -> target) was refused: exit ${r.fenced.exitCode}, the live target untouched`);
  }
  if (r.failback) {
    const b = r.failback;
    lines.push(`  failback      source back, replicated target -> source, then activeSite=source and source -> target again`,
      `                ${b.blobsReadAfterSwitchBack} known blobs (outage writes included) read back from the source after switching back`,
      `  nothing lost  ${b.unreplicatedKept ? "yes" : "NO"}: the retention area holds ${b.retained.length} cop${b.retained.length === 1 ? "y" : "ies"} the failback replaced or deleted:`);
    for (const k of b.retained) lines.push(`                  ${k.container}/${k.name} (${formatBytes(k.size)}, ${k.reason})`);
    lines.push(`                see them with: dr-sync retention list; put one back with: dr-sync restore --container C --blob NAME`);
  }
  if (r.application) lines.push(...formatApplication(r.application));
  lines.push("", `  steps         ${r.steps.length} run, ${r.steps.filter((s) => !s.ok).length} failed; total ${secs(r.totalSeconds)}`);
  lines.push(r.ok ? "  result        PASSED" : `  result        FAILED at step "${r.failedStep}": ${r.error}`);
  return lines.join("\n");
}

/** The application's part: which site served each phase, what the passive site got, and the zero-RPO container. */
function formatApplication(a: ApplicationReport): string[] {
  const lines = ["", `  application   one failover-aware client (stackhub-dr/client) for the whole drill: no restart, no config edit;`,
    `                fences re-read every ${secs(a.recheckAfterMs / 1000)} here (default 30 s); "${a.synchronousContainer}" synchronous (${a.mode}), "${a.otherContainer}" scheduled only`,
    "                phase                          ok/runs  served by   requests east/west  to passive  errors"];
  for (const p of a.phases) {
    const served = p.activeSite.includes(":") ? "none" : p.activeSite;
    const error = p.errors[0] ? (p.errors[0].length > 70 ? `${p.errors[0].slice(0, 67)}...` : p.errors[0]) : "-";
    lines.push(`                ${p.phase.padEnd(30)} ${`${p.ok}/${p.iterations}`.padStart(7)}  ${served.padEnd(10)} ` +
      `${`${p.requests.source}/${p.requests.target}`.padStart(19)}  ${String(p.toPassive).padStart(10)}  ${error}`);
  }
  if (a.secondsToSwitch !== undefined) lines.push(`                switch to the target: ${secs(a.secondsToSwitch)} after the failover deploy, by the fences alone`);
  if (a.lastWrites) {
    const { synchronous: s, other: o } = a.lastWrites;
    lines.push(`  RPO zero      ${s.name}, written ${secs(s.secondsBeforeDisaster)} before the disaster: ${s.atTarget ? "at the target as written (RPO 0)" : "NOT at the target"}`,
      `                ${o.name} (scheduled only): ${o.atTarget ? "at the target (unexpected)" : "not at the target: lost until failback, then kept in retention"}`);
  }
  if (a.journaledMisses !== undefined) lines.push(`                ${a.journaledMisses} best-effort misses journaled at the target while the source was down (dr-sync-status/dual-write-misses/)`);
  return lines;
}
