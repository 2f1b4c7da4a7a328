import { isTransient, statusOf } from "../storage/errors";
import { IntegrityError } from "../transfer/blob-to-file";

/**
 * Runs one blob's transfer with a few more attempts than the SDK's per-request retries give: a whole-blob
 * retry also covers truncated bodies, integrity mismatches and a version that changed mid-transfer.
 */
export async function withItemRetry<T>(attempts: number, baseDelayMs: number, signal: AbortSignal | undefined,
  fn: (attempt: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      last = err;
      const again = err instanceof IntegrityError || isTransient(err) || statusOf(err) === 412;
      if (!again || attempt === attempts || signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, Math.min(baseDelayMs * 2 ** (attempt - 1), 10000) * (0.5 + Math.random() / 2)));
    }
  }
  throw last;
}
