import { RemoteBlob } from "../model/blob";
import { VersionEntry } from "./target-versions";

/** What `restore --as-of` does with one name, and why. */
export type PitAction =
  | { readonly name: string; readonly action: "keep"; readonly reason: string }
  | { readonly name: string; readonly action: "restore"; readonly reason: string; readonly version: VersionEntry; readonly current?: RemoteBlob }
  | { readonly name: string; readonly action: "remove"; readonly reason: string; readonly current: RemoteBlob };

/**
 * Of two kept versions of one name, whether `a` is the later one: written later, or (written in the same instant)
 * kept later. The version live at a moment is the latest written at or before it.
 */
export function isLaterVersion(a: VersionEntry, b: VersionEntry): boolean {
  const wa = Date.parse(a.writtenAt), wb = Date.parse(b.writtenAt);
  return wa > wb || (wa === wb && Date.parse(a.keptAt) > Date.parse(b.keptAt));
}

/** Whether a kept version had been written by `asOf` (only those can have been live then). */
export function writtenBy(v: VersionEntry, asOf: Date): boolean {
  return Date.parse(v.writtenAt) <= asOf.getTime();
}

/**
 * What to do with one name to put it back as it was at `asOf`: `current` is what the side holds now, `live` the
 * latest kept version written by `asOf` (`isLaterVersion`, `writtenBy`). A blob's history is its versions and its
 * current copy, each written at a known time (Last-Modified, by the service's clock); the one live at `asOf` is
 * the last written at or before it, unless that one was deleted by then. Pure. Undefined: nothing to do or say
 * (neither side knows the name).
 */
export function decideAsOf(name: string, current: RemoteBlob | undefined, live: VersionEntry | undefined, asOf: Date): PitAction | undefined {
  const t = asOf.getTime();
  if (current && Date.parse(current.lastModified) <= t) return { name, action: "keep", reason: `unchanged since ${current.lastModified}` };
  // A version kept because it was deleted says when it went; a later write would be a later version.
  const goneBy = !!live && (live.reason === "deleted by a push" || live.reason === "removed by a restore") && Date.parse(live.keptAt) <= t;
  if (!live || goneBy) {
    if (!current) return undefined;
    return { name, action: "remove", reason: live ? `deleted at ${live.keptAt}, before ${asOf.toISOString()}` : `created after ${asOf.toISOString()} (${current.lastModified})`, current };
  }
  return { name, action: "restore", reason: `the version written ${live.writtenAt} was live then (kept ${live.keptAt}, ${live.reason})`, version: live, ...(current ? { current } : {}) };
}

/**
 * The state of each blob at `asOf`, from what is there now and the versions kept before each replacement or
 * deletion, in name order (`decideAsOf` per name). Pure, and in memory: `restoreAsOf` walks the same decisions
 * on disk; this form is for tables of cases.
 *
 * @param current the container as listed now (on the side being restored)
 * @param history the kept versions of that container (the target's versions container)
 */
export function planAsOf(current: Iterable<RemoteBlob>, history: readonly VersionEntry[], asOf: Date, prefix = ""): PitAction[] {
  const now = new Map<string, RemoteBlob>();
  for (const b of current) if (b.name.startsWith(prefix)) now.set(b.name, b);
  const live = new Map<string, VersionEntry>();
  for (const v of history) {
    if (!v.name.startsWith(prefix) || !writtenBy(v, asOf)) continue;
    const best = live.get(v.name);
    if (!best || isLaterVersion(v, best)) live.set(v.name, v);
  }
  const names = [...new Set([...now.keys(), ...history.filter((v) => v.name.startsWith(prefix)).map((v) => v.name)])].sort();
  const out: PitAction[] = [];
  for (const name of names) {
    const a = decideAsOf(name, now.get(name), live.get(name), asOf);
    if (a) out.push(a);
  }
  return out;
}
