import { RemoteBlob } from "../model/blob";
import { VersionEntry } from "./target-versions";

/** What `restore --as-of` does with one name, and why. */
export type PitAction =
  | { readonly name: string; readonly action: "keep"; readonly reason: string }
  | { readonly name: string; readonly action: "restore"; readonly reason: string; readonly version: VersionEntry; readonly current?: RemoteBlob }
  | { readonly name: string; readonly action: "remove"; readonly reason: string; readonly current: RemoteBlob };

/**
 * The state of each blob at `asOf`, from what is there now and the versions kept before each replacement or
 * deletion. A blob's history is its versions and its current copy, each written at a known time (Last-Modified,
 * by the service's clock); the one live at `asOf` is the last written at or before it, unless that one was deleted
 * by then. Pure: the caller lists, this decides, the caller acts.
 *
 * @param current the container as listed now (on the side being restored)
 * @param history the kept versions of that container (the target's versions container)
 */
export function planAsOf(current: Iterable<RemoteBlob>, history: readonly VersionEntry[], asOf: Date, prefix = ""): PitAction[] {
  const t = asOf.getTime();
  const now = new Map<string, RemoteBlob>();
  for (const b of current) if (b.name.startsWith(prefix)) now.set(b.name, b);
  const byName = new Map<string, VersionEntry[]>();
  for (const v of history) {
    if (!v.name.startsWith(prefix)) continue;
    const list = byName.get(v.name) ?? [];
    list.push(v);
    byName.set(v.name, list);
  }
  const names = [...new Set([...now.keys(), ...byName.keys()])].sort();
  const out: PitAction[] = [];
  for (const name of names) {
    const cur = now.get(name);
    const live = [...(byName.get(name) ?? [])].filter((v) => Date.parse(v.writtenAt) <= t)
      .sort((a, b) => Date.parse(b.writtenAt) - Date.parse(a.writtenAt) || Date.parse(b.keptAt) - Date.parse(a.keptAt))[0];
    if (cur && Date.parse(cur.lastModified) <= t) {
      out.push({ name, action: "keep", reason: `unchanged since ${cur.lastModified}` });
      continue;
    }
    // A version kept because it was deleted says when it went; a later write would be a later version.
    const goneBy = !!live && (live.reason === "deleted by a push" || live.reason === "removed by a restore") && Date.parse(live.keptAt) <= t;
    if (!live || goneBy) {
      if (cur) out.push({ name, action: "remove", reason: live ? `deleted at ${live.keptAt}, before ${asOf.toISOString()}` : `created after ${asOf.toISOString()} (${cur.lastModified})`, current: cur });
      continue;
    }
    out.push({ name, action: "restore", reason: `the version written ${live.writtenAt} was live then (kept ${live.keptAt}, ${live.reason})`, version: live, ...(cur ? { current: cur } : {}) });
  }
  return out;
}
