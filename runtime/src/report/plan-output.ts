import { ItemAction } from "../sync/context";

/**
 * Where `plan` sends what it finds, as it finds it: a plan of a container with millions of changes is written out
 * while the walk goes, never held in memory. The calls for one container come in order: `begin`, its pull's
 * actions, its push's actions, `end`.
 */
export interface PlanSink {
  begin(container: string): void;
  action(hop: "pull" | "push", action: ItemAction): void;
  /** `guardStops`: why the run would stop this container; `error`: why it could not be planned (after the actions found before). */
  end(outcome: { readonly guardStops?: readonly string[]; readonly error?: string }): void;
  /** After the last container. */
  close(): void;
}

/**
 * The plan as text: per container a line of counts, the guards' stops, and the first `limit` actions of each hop.
 * Keeps at most `limit` actions per hop.
 */
export function textPlanSink(write: (line: string) => void, limit = 50): PlanSink {
  let container = "";
  const hops = { pull: newHop(), push: newHop() };
  return {
    begin(name) {
      container = name;
      hops.pull = newHop();
      hops.push = newHop();
    },
    action(hop, a) {
      const h = hops[hop];
      h.counts[a.action] = (h.counts[a.action] ?? 0) + 1;
      h.total++;
      if (h.first.length < limit) h.first.push(a);
    },
    end({ guardStops, error }) {
      if (error) {
        write(`${container}: cannot plan: ${error}`);
        return;
      }
      const n = (hop: "pull" | "push", act: string) => hops[hop].counts[act] ?? 0;
      write(`${container}: pull ${n("pull", "copy")} copy, ${n("pull", "delete")} delete; push ${n("push", "copy")} copy, ${n("push", "adopt")} adopt, ${n("push", "delete")} delete`);
      for (const g of guardStops ?? []) write(`  run would stop here: ${g}`);
      for (const hop of ["pull", "push"] as const) {
        const h = hops[hop];
        for (const a of h.first) write(`  ${hop} ${a.action} ${JSON.stringify(a.name)}: ${a.reason}`);
        if (h.total > limit) write(`  ... ${h.total - limit} more ${hop} actions (--json lists all)`);
      }
    },
    close: () => undefined,
  };
}

function newHop(): { counts: Record<string, number>; total: number; first: ItemAction[] } {
  return { counts: {}, total: 0, first: [] };
}

/**
 * The plan as one JSON document, `{"containers": [{"container", "pull": [...], "push": [...], "guardStops"?,
 * "error"?}]}`, written a piece at a time (one action per line).
 */
export function jsonPlanSink(write: (text: string) => void): PlanSink {
  let containers = 0;
  let hop: "pull" | "push" | undefined;
  let actions = 0;
  const openHop = (next: "pull" | "push") => {
    if (hop === next) return;
    // The pull's list is always written, even empty, so a push's list follows it.
    if (next === "push" && hop === undefined) openHop("pull");
    write(`${hop ? "\n  ]," : ""}\n  ${JSON.stringify(next)}: [`);
    hop = next;
    actions = 0;
  };
  write(`{"containers": [`);
  return {
    begin(container) {
      write(`${containers++ ? "," : ""}\n {"container": ${JSON.stringify(container)},`);
      hop = undefined;
    },
    action(h, a) {
      openHop(h);
      write(`${actions++ ? "," : ""}\n   ${JSON.stringify(a)}`);
    },
    end({ guardStops, error }) {
      openHop("push");
      write("\n  ]");
      if (guardStops?.length) write(`,\n  "guardStops": ${JSON.stringify(guardStops)}`);
      if (error) write(`,\n  "error": ${JSON.stringify(error)}`);
      write("}");
    },
    close: () => write("\n]}\n"),
  };
}
