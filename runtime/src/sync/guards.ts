import { allowsMassChange, allowsMassDelete, SyncContext } from "./context";
import { checkDeleteGuard, GuardInput, guardError } from "./delete-guard";
import { checkOverwriteGuard, overwriteGuardError } from "./overwrite-guard";

/** What one hop of one container would do destructively, counted before it changes anything. */
export interface HopChanges extends GuardInput {
  readonly overwrites: number;
}

/**
 * Applies both guards to a hop. A tripped guard throws its GuardError (exit 4) unless this run lifts it for the
 * container (`--allow-mass-delete`, `--allow-mass-change`), which is logged. In plan mode nothing throws: the
 * first stop is returned, for `plan` to show.
 */
export function applyGuards(ctx: SyncContext, c: HopChanges, dryRun: boolean): string | undefined {
  const del = checkDeleteGuard(c, ctx.config.guards);
  const ovr = checkOverwriteGuard(c, ctx.config.guards);
  const stops: { error: Error; lifted: boolean; flag: string; reason: string }[] = [];
  if (!del.ok) stops.push({ error: guardError(c, del.reason), lifted: allowsMassDelete(ctx, c.container), flag: "--allow-mass-delete", reason: del.reason });
  if (!ovr.ok) stops.push({ error: overwriteGuardError(c, ovr.reason), lifted: allowsMassChange(ctx, c.container), flag: "--allow-mass-change", reason: ovr.reason });
  for (const s of stops) {
    if (dryRun) return s.error.message;
    if (!s.lifted) throw s.error;
    ctx.events.warn("guard.override", `guard lifted for "${c.container}" by ${s.flag}: ${s.reason}`, { container: c.container, hop: c.hop });
  }
  return undefined;
}
