import { GuardError } from "../storage/errors";

export interface GuardLimits {
  readonly maxDeletePercent: number;
  readonly maxDeleteCount: number | null;
}

export interface GuardInput {
  readonly hop: "pull" | "push";
  readonly container: string;
  /** Where the deletions would happen, for the message ("staging", "target site"). */
  readonly where: string;
  /** Blobs at the destination of the hop before it runs. */
  readonly existing: number;
  readonly deletes: number;
  /** Overwrites that would replace non-empty content with an empty blob. */
  readonly empties: number;
}

export type GuardVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Decides whether a hop's destructive changes stay within the limits. Emptying a blob destroys its content
 * just as surely as deleting it, so both count. Pure: the caller acts on the verdict.
 */
export function checkDeleteGuard(input: GuardInput, limits: GuardLimits): GuardVerdict {
  const destructive = input.deletes + input.empties;
  if (destructive === 0) return { ok: true };
  const what = `${input.deletes} deletion(s)${input.empties ? ` and ${input.empties} blob(s) emptied` : ""}`;
  if (limits.maxDeleteCount !== null && destructive > limits.maxDeleteCount) {
    return { ok: false, reason: `${what} in ${input.where} exceed guards.maxDeleteCount ${limits.maxDeleteCount}` };
  }
  const share = input.existing > 0 ? (destructive / input.existing) * 100 : 100;
  if (share > limits.maxDeletePercent) {
    return {
      ok: false,
      reason: `${what} would remove ${share.toFixed(1)}% of the ${input.existing} blob(s) in ${input.where}, more than guards.maxDeletePercent ${limits.maxDeletePercent}%`,
    };
  }
  return { ok: true };
}

/** The error a tripped guard raises: what stopped, what was left alone, and how to proceed on purpose. */
export function guardError(input: GuardInput, reason: string): GuardError {
  return new GuardError(
    `delete guard stopped the ${input.hop} of container "${input.container}": ${reason}. ` +
    `Nothing was deleted or emptied in ${input.where}. If this is intended (check the source first: \`dr-sync plan\` lists every deletion), ` +
    `run once with --allow-mass-delete ${input.container}, or raise guards.maxDeletePercent / guards.maxDeleteCount in the config.`);
}
