/** One step of the drill as the report lists it. */
export interface StepRecord {
  readonly name: string;
  readonly seconds: number;
  readonly ok: boolean;
}

/** A step failed; the drill stops there and its report names the step. */
export class DrillStepError extends Error {
  constructor(readonly step: string, readonly cause: unknown) {
    super(`step "${step}" failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "DrillStepError";
  }
}

/**
 * Runs the drill's steps in order, each under its name: announced, timed, and on failure turned into a
 * `DrillStepError` that says which step broke. An interrupted drill stops before the next step.
 */
export class StepRunner {
  readonly records: StepRecord[] = [];

  constructor(private readonly log: (line: string) => void, private readonly signal: AbortSignal, private readonly now: () => number = Date.now) {}

  async run<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const started = this.now();
    this.log(`-> ${name}`);
    try {
      if (this.signal.aborted) throw new Error("the drill was interrupted");
      const result = await fn();
      this.records.push({ name, seconds: (this.now() - started) / 1000, ok: true });
      return result;
    } catch (err) {
      this.records.push({ name, seconds: (this.now() - started) / 1000, ok: false });
      throw err instanceof DrillStepError ? err : new DrillStepError(name, err);
    }
  }
}
