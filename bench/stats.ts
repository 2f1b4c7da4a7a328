/** Median and spread of repeated measurements. */
export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (max - min) / median, in percent; 0 for a single value. */
  readonly spreadPct: number;
}

/** Summarizes repetitions; `null` when there is nothing to summarize (a tool that was not measured). */
export function summarize(values: readonly (number | null | undefined)[]): Spread | null {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  const min = xs[0];
  const max = xs[xs.length - 1];
  return { n: xs.length, median, min, max, spreadPct: median > 0 ? ((max - min) / median) * 100 : 0 };
}

/** `a / b`, or null when either is missing or b is zero. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || b === 0) return null;
  return a / b;
}
