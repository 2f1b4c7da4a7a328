import { EventSink, LEVELS, ProgressSnapshot, RunEvent } from "./events";

/**
 * A one-line progress bar for terminals: counts, bytes, rate and ETA. Warnings and errors are printed above it,
 * so nothing important scrolls away under the bar.
 */
export class ProgressBarSink implements EventSink {
  readonly minLevel = "info" as const;
  private last = 0;
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream, private readonly now: () => number = Date.now) {}

  emit(e: RunEvent): void {
    if (LEVELS[e.level] < LEVELS.info) return;
    if (e.level === "info" && !PRINTED_INFO.has(e.event)) return;
    this.clear();
    this.stream.write(`${e.level === "info" ? "" : e.level.toUpperCase() + ": "}${e.msg}\n`);
  }

  progress(p: ProgressSnapshot): void {
    const t = this.now();
    if (t - this.last < 200 && p.doneItems < p.totalItems) return;
    this.last = t;
    this.clear();
    this.stream.write(formatProgress(p, t));
    this.shown = true;
  }

  close(): void {
    this.clear();
  }

  private clear(): void {
    if (this.shown) this.stream.write("\r\x1b[2K");
    this.shown = false;
  }
}

const PRINTED_INFO = new Set(["hop.end", "run.end", "container.created", "guard.override", "run.start"]);

export function formatProgress(p: ProgressSnapshot, now: number): string {
  const width = 24;
  const frac = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : p.totalItems > 0 ? p.doneItems / p.totalItems : 1;
  const filled = Math.round(Math.min(1, frac) * width);
  const secs = Math.max(0.001, (now - p.startedAt) / 1000);
  const rate = p.doneBytes / secs;
  const eta = rate > 0 ? (p.totalBytes - p.doneBytes) / rate : NaN;
  return `${p.phase} ${p.container} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ` +
    `${p.doneItems}/${p.totalItems} blobs ${formatBytes(p.doneBytes)}/${formatBytes(p.totalBytes)} ` +
    `${formatBytes(rate)}/s ETA ${Number.isFinite(eta) ? formatDuration(eta) : "--"}`;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${Math.round(seconds % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
