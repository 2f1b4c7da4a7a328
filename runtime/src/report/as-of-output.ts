import type { AsOfSink, AsOfSummary } from "../sync/restore-as-of";
import type { PitAction } from "../versions/point-in-time";

/**
 * `restore --as-of` as text: a line of counts, the first `limit` changes and the first `limit` failures (the rest
 * counted), and the verdict. Keeps at most `limit` of each, whatever the container's size.
 */
export function textAsOfSink(write: (line: string) => void, limit = 50): AsOfSink {
  const changes: PitAction[] = [];
  const failures: { name: string; error: string }[] = [];
  return {
    action(a) {
      if (a.action !== "keep" && changes.length < limit) changes.push(a);
    },
    failed(name, error) {
      if (failures.length < limit) failures.push({ name, error });
    },
    close(r: AsOfSummary) {
      const { restore, remove, keep } = r.counts;
      write(`${r.container} at ${r.to} as of ${r.asOf}: ${restore} to restore, ${remove} to remove, ${keep} unchanged${r.applied ? "" : " (nothing changed yet)"}`);
      for (const a of changes) write(`  ${a.action} ${JSON.stringify(a.name)}: ${a.reason}`);
      if (restore + remove > changes.length) write(`  ... ${restore + remove - changes.length} more (--json lists all)`);
      for (const f of failures) write(`  failed: ${JSON.stringify(f.name)}: ${f.error}`);
      if (r.failedCount > failures.length) write(`  ... ${r.failedCount - failures.length} more failed (--json lists all)`);
      if (r.applied) write(r.failedCount ? `restore: ${r.failedCount} blob(s) failed; run it again` : "restore: done; what it replaced or removed was kept first");
    },
  };
}

/**
 * `restore --as-of --json`: one document, `{"actions": [...], "failed": [{name, error}], "container", "asOf", "to",
 * "counts", "applied", "failedCount"}`, written a piece at a time (one action or failure per line).
 */
export function jsonAsOfSink(write: (text: string) => void): AsOfSink {
  let actions = 0;
  let failures = -1;
  const openFailures = () => {
    if (failures >= 0) return;
    write(`${actions ? "\n" : ""}],\n"failed": [`);
    failures = 0;
  };
  write(`{"actions": [`);
  return {
    action(a) {
      write(`${actions++ ? "," : ""}\n  ${JSON.stringify(a)}`);
    },
    failed(name, error) {
      openFailures();
      write(`${failures++ ? "," : ""}\n  ${JSON.stringify({ name, error })}`);
    },
    close(r) {
      openFailures();
      const { container, asOf, to, counts, applied, failedCount } = r;
      write(`${failures ? "\n" : ""}],\n${JSON.stringify({ container, asOf, to, counts, applied, failedCount }).slice(1)}\n`);
    },
  };
}
