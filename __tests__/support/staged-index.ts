import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { StagingIndex } from "../../runtime/src/index/staging-index";
import { StagedEntry } from "../../runtime/src/model/blob";
import { objectStem } from "../../runtime/src/staging/object-path";

/** One staged blob as the container's index.db holds it, with the absolute path of its bytes. */
export interface StagedFile {
  readonly containerDir: string;
  readonly entry: StagedEntry;
  readonly dataPath: string;
}

/** Staged container folders under `stagingDir` (`<site>/<container>/` with an index.db). */
export function stagedContainerDirs(stagingDir: string): string[] {
  if (!existsSync(stagingDir)) return [];
  const out: string[] = [];
  for (const site of readdirSync(stagingDir)) {
    if (site === "retention") continue;
    const siteDir = join(stagingDir, site);
    let containers: string[];
    try {
      containers = readdirSync(siteDir);
    } catch {
      continue;
    }
    for (const c of containers) if (existsSync(join(siteDir, c, "index.db"))) out.push(join(siteDir, c));
  }
  return out;
}

/** Every staged entry under `stagingDir`, read from the containers' indexes (the runtime must not be running). */
export function stagedFiles(stagingDir: string): StagedFile[] {
  const out: StagedFile[] = [];
  for (const containerDir of stagedContainerDirs(stagingDir)) {
    const index = StagingIndex.open(join(containerDir, "index.db"));
    try {
      for (const entry of index.entries()) {
        out.push({ containerDir, entry, dataPath: join(containerDir, objectStem(entry.name), "..", entry.dataFile) });
      }
    } finally {
      index.close();
    }
  }
  return out;
}

/** The staged entry of one blob name; throws when no container holds it. */
export function stagedFile(stagingDir: string, name: string): StagedFile {
  const f = stagedFiles(stagingDir).find((s) => s.entry.name === name);
  if (!f) throw new Error(`no staged entry for ${JSON.stringify(name)} under ${stagingDir}`);
  return f;
}
