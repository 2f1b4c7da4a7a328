import type { Difference, VerifySummary } from "../verify/verify";

/**
 * Where `verify` sends each difference as it finds it: a pair far out of sync (an empty target: one difference
 * per blob) is written out while the walk goes, never held in memory. `close` comes once, after the last
 * container, with the counts.
 */
export interface DifferenceSink {
  add(d: Difference): void;
  close(summary: VerifySummary): void;
}

/** Text: the first `limit` differences as found, then a line per container and the verdict. Keeps nothing per difference. */
export function textVerifySink(write: (line: string) => void, limit = 100): DifferenceSink {
  let shown = 0;
  let total = 0;
  return {
    add(d) {
      total++;
      if (shown < limit) {
        shown++;
        write(`  ${d.container}/${d.name ? JSON.stringify(d.name) : "*"}: ${d.problem}`);
      }
    },
    close(v) {
      if (total > shown) write(`  ... ${total - shown} more (--json lists all)`);
      for (const c of v.containers) write(`${c.container}: ${c.source} at source, ${c.target} at target, ${c.differences} difference(s)`);
      write(v.ok ? "verify: target matches source" : `verify: ${v.differenceCount} difference(s)`);
    },
  };
}

/** What `verify --json` prints: every difference, then the counts. */
export interface VerifyDocument extends VerifySummary {
  readonly differences: Difference[];
}

/**
 * One JSON document (`VerifyDocument`: `{"differences": [...], "containers": [...], "differenceCount", "ok"}`),
 * written a piece at a time (one difference per line).
 */
export function jsonVerifySink(write: (text: string) => void): DifferenceSink {
  let n = 0;
  write(`{"differences": [`);
  return {
    add(d) {
      write(`${n++ ? "," : ""}\n  ${JSON.stringify(d)}`);
    },
    close(v) {
      write(`${n ? "\n" : ""}],\n"containers": ${JSON.stringify(v.containers)},\n"differenceCount": ${v.differenceCount},\n"ok": ${v.ok}}\n`);
    },
  };
}
