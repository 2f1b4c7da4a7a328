import { GuardError } from "../storage/errors";

export interface OverwriteLimits {
  readonly maxOverwritePercent: number;
  readonly maxOverwriteCount: number | null;
  /** Overwrites up to this many never trip the percentage (a small container whose few blobs all change each cycle). */
  readonly minOverwritesForPercent: number;
}

export interface OverwriteInput {
  readonly hop: "pull" | "push";
  readonly container: string;
  /** Where the overwrites would happen, for the message ("staging", "target site"). */
  readonly where: string;
  /** Blobs at the destination of the hop before it runs. */
  readonly existing: number;
  /** Destination blobs whose content the hop would replace with other content (not metadata-only changes). */
  readonly overwrites: number;
}

export type OverwriteVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Decides whether a hop's content replacements stay within the limits. A source rewritten with garbage
 * (ransomware, a bad deploy, a script gone wrong) looks like a mass overwrite, not a deletion, so it has a guard of
 * its own. Pure: the caller acts on the verdict.
 */
export function checkOverwriteGuard(input: OverwriteInput, limits: OverwriteLimits): OverwriteVerdict {
  if (input.overwrites === 0) return { ok: true };
  const what = `${input.overwrites} overwrite(s)`;
  if (limits.maxOverwriteCount !== null && input.overwrites > limits.maxOverwriteCount) {
    return { ok: false, reason: `${what} in ${input.where} exceed guards.maxOverwriteCount ${limits.maxOverwriteCount}` };
  }
  const share = input.existing > 0 ? (input.overwrites / input.existing) * 100 : 100;
  if (input.overwrites > limits.minOverwritesForPercent && share > limits.maxOverwritePercent) {
    return {
      ok: false,
      reason: `${what} would replace the content of ${share.toFixed(1)}% of the ${input.existing} blob(s) in ${input.where}, more than guards.maxOverwritePercent ${limits.maxOverwritePercent}%`,
    };
  }
  return { ok: true };
}

/** The error a tripped mass-change guard raises: what stopped, what was left alone, and how to proceed on purpose. */
export function overwriteGuardError(input: OverwriteInput, reason: string): GuardError {
  return new GuardError(
    `mass-change guard stopped the ${input.hop} of container "${input.container}": ${reason}. ` +
    `Nothing was overwritten in ${input.where}: the last good copy is still there${input.hop === "pull" ? " and at the target" : ""}. ` +
    "If this is intended (check the source first: `dr-sync plan` lists every overwrite), " +
    `run once with --allow-mass-change ${input.container}, or raise guards.maxOverwritePercent / guards.maxOverwriteCount in the config.`);
}
