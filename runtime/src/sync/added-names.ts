import { StagingIndex } from "../index/staging-index";
import { SortedNameCursor } from "./sorted-name-cursor";

/**
 * Names added to a hop's destination since its guards last passed: new names the pull staged (`STAGED_NEW`), blobs
 * written at the target ahead of the push (`pushedAhead(target)`). Both are added before the hop's guards can
 * count (transfers start while the listing streams), and they stay when a guard stops the run, or the run ends
 * before any verdict (killed, a full staging disk, a listing cut off).
 *
 * The guards measure what a hop would destroy of what its destination held when a guard last let it act, so these
 * names are left out of both sides: out of what the destination held (a source whose 20 blobs were replaced by 30
 * new names must not pass at 40%, in that run or the next), and out of the deletions, emptyings and overwrites
 * (deleting names a cut-short first copy staged, or a ransomware's new names once the operator removes them, is no
 * mass deletion of what was held). They leave only when a hop's guards pass with them (`acceptAdded`): from then on
 * they are what the destination holds. Rows of the staged container's index (`queue`), read in name order beside
 * the walks (`addedCursor`): nothing of this is held in memory.
 */
export const STAGED_NEW = "pull.new";

/** The queue of names written ahead at one target (push records are per target; so are these). */
export function pushedAhead(target: string): string {
  return `push.ahead\n${target}`;
}

/** A row of those queues: the name, and for a blob written ahead the run that wrote it (its copy counts as that run's). */
export interface AddedName {
  readonly name: string;
  readonly run?: string;
}

/** Notes a name added before the hop's guards (by the run `run`, for a blob written ahead). */
export function noteAdded(rows: StagingIndex, queue: string, name: string, run?: string): void {
  rows.enqueue(queue, name, (run === undefined ? { name } : { name, run }) satisfies AddedName);
}

/** Notes a blob about to be written at `target` under a name no guard there has let in (by the run `run`, whose
 *  copy it then counts as), before the write. */
export function noteWrittenAhead(rows: StagingIndex, target: string, name: string, run?: string): void {
  noteAdded(rows, pushedAhead(target), name, run);
}

/** How many of the names staged new since the pull's guards last passed are staged now (a failed download notes
 *  its name too). */
export function countStagedNew(rows: StagingIndex): number {
  return rows.countQueued(STAGED_NEW) > 0 ? rows.countQueuedStaged(STAGED_NEW) : 0;
}

/** Whether `name` is one of them: one lookup, for a name met out of the walk's order. */
export function isAdded(rows: StagingIndex, queue: string, name: string): boolean {
  return rows.queuedItem(queue, name) !== undefined;
}

/** The added names, asked in a walk's name order (undefined when there are none, so a steady cycle reads nothing). */
export function addedCursor(rows: StagingIndex, queue: string): SortedNameCursor<AddedName> | undefined {
  return rows.countQueued(queue) > 0 ? new SortedNameCursor(rows.queued<AddedName>(queue)) : undefined;
}

/** A hop's guards passed with the added names counted out: from now on they are what its destination holds. */
export function acceptAdded(rows: StagingIndex, queue: string): void {
  if (rows.countQueued(queue) > 0) rows.clearQueue(queue);
}
