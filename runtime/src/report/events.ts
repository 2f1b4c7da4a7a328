import { Redactor } from "./redact";

export type Level = "debug" | "info" | "warn" | "error";

/** One thing that happened, as written to the event stream. */
export interface RunEvent {
  readonly level: Level;
  readonly event: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** Receives events; the sink decides how they look (JSON lines, a progress bar, nothing). */
export interface EventSink {
  /** The lowest level this sink shows; events below every sink's level are never built. @default "debug" */
  readonly minLevel?: Level;
  emit(e: RunEvent): void;
  /** Progress counters changed; sinks that draw progress redraw. */
  progress?(p: ProgressSnapshot): void;
  close?(): void;
}

export interface ProgressSnapshot {
  readonly phase: string;
  readonly container: string;
  readonly doneItems: number;
  readonly totalItems: number;
  readonly doneBytes: number;
  readonly totalBytes: number;
  readonly startedAt: number;
}

/** The runtime's logger: every event passes through the redactor before any sink sees it. */
export class Events {
  private readonly floor: number;

  constructor(private readonly sinks: EventSink[], readonly redactor: Redactor, private readonly clock: () => Date = () => new Date()) {
    // A full run emits a debug event per blob and hop: at the default level, building and redacting them was work
    // for nobody.
    this.floor = Math.min(...sinks.map((s) => LEVELS[s.minLevel ?? "debug"]));
  }

  emit(level: Level, event: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (LEVELS[level] < this.floor) return;
    const clean = JSON.parse(this.redactor.redact(JSON.stringify({ time: this.clock().toISOString(), level, event, msg, ...fields })));
    for (const s of this.sinks) s.emit(clean);
  }

  info(event: string, msg: string, fields?: Record<string, unknown>): void { this.emit("info", event, msg, fields); }
  warn(event: string, msg: string, fields?: Record<string, unknown>): void { this.emit("warn", event, msg, fields); }
  error(event: string, msg: string, fields?: Record<string, unknown>): void { this.emit("error", event, msg, fields); }
  debug(event: string, msg: string, fields?: Record<string, unknown>): void { this.emit("debug", event, msg, fields); }

  progress(p: ProgressSnapshot): void {
    for (const s of this.sinks) s.progress?.(p);
  }

  close(): void {
    for (const s of this.sinks) s.close?.();
  }
}

/** One JSON object per line: what journald and log shippers want. */
export class JsonLineSink implements EventSink {
  constructor(private readonly write: (line: string) => void, readonly minLevel: Level = "info") {}
  emit(e: RunEvent): void {
    if (LEVELS[e.level] >= LEVELS[this.minLevel]) this.write(JSON.stringify(e) + "\n");
  }
}

/** Records events in memory; tests and the summary read them. */
export class MemorySink implements EventSink {
  readonly events: RunEvent[] = [];
  emit(e: RunEvent): void { this.events.push(e); }
}

export const LEVELS: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
