/** What one site's fence said when it was read. */
export type FenceReading =
  | { readonly state: "active" | "passive"; readonly environment?: string }
  /** The site answered, and has no fence (no container or no blob). */
  | { readonly state: "none" }
  /** The site did not answer, refused, or holds something that is not a fence. */
  | { readonly state: "unreadable"; readonly reason: string };

export type SiteChoice =
  | { readonly ok: true; readonly site: 0 | 1; readonly reason: string }
  | { readonly ok: false; readonly problem: "split-brain" }
  | { readonly ok: false; readonly problem: "no-active-site"; readonly states: readonly [string, string] };

/**
 * Which site is active, from the two fences. Only a fence that says `active` makes a site active; a site whose
 * fence cannot be read never wins over one that says `active`, and two `active` fences are split brain, never a
 * guess. When no fence says `active` but one could not be read, the site that was active before stays so, if it is
 * the unreadable one: a site that is down (or briefly unreachable) keeps the application's requests until the
 * deployment declares another site active, so no write goes to a replica nobody failed over to.
 */
export function chooseSite(readings: readonly [FenceReading, FenceReading], previous?: 0 | 1): SiteChoice {
  const [a, b] = readings;
  if (a.state === "active" && b.state === "active") return { ok: false, problem: "split-brain" };
  if (a.state === "active") return { ok: true, site: 0, reason: `its fence says active, the other's ${describe(b)}` };
  if (b.state === "active") return { ok: true, site: 1, reason: `its fence says active, the other's ${describe(a)}` };
  if (previous !== undefined && readings[previous].state === "unreadable") {
    return { ok: true, site: previous, reason: `it was active and its fence is ${describe(readings[previous])}; no fence names another active site` };
  }
  return { ok: false, problem: "no-active-site", states: [describe(a), describe(b)] };
}

function describe(r: FenceReading): string {
  switch (r.state) {
    case "active":
    case "passive":
      return `says ${r.state}`;
    case "none":
      return "is missing";
    case "unreadable":
      return `unreadable (${r.reason})`;
  }
}

/** When the last decision was taken, and whether a request since has looked like an outage of the chosen site. */
export interface CheckState {
  readonly checkedAt: number;
  /** The last check ended in an error (split brain, no active site): checked again at the shorter interval. */
  readonly failed: boolean;
  readonly suspect: boolean;
}

export interface CheckTimes {
  readonly recheckAfterMs: number;
  readonly minRecheckIntervalMs: number;
}

/**
 * Whether the fences must be read before the next request. A decision is used for `recheckAfterMs`; a suspected
 * outage, or a decision that was an error, is checked again after `minRecheckIntervalMs`, never sooner, so a storm
 * of failing requests costs one pair of fence reads per interval. A clock that went backwards checks at once.
 */
export function needsCheck(state: CheckState | undefined, now: number, t: CheckTimes): boolean {
  if (!state) return true;
  const age = now - state.checkedAt;
  if (age < 0 || age >= t.recheckAfterMs) return true;
  return (state.suspect || state.failed) && age >= t.minRecheckIntervalMs;
}
