import { promises as fs } from "node:fs";
import { join } from "node:path";
import { exists, writeFileAtomic } from "../staging/atomic-file";
import { clearPullMark } from "../staging/pull-mark";
import { RetentionArea, RetentionReason } from "../staging/retention";
import { StagingStore } from "../staging/staging-store";
import { ContainerPart, containerPart, ownsName, partIdentity } from "./part";
import { ShardSpec } from "./shard-spec";

/** What `adoptPart` needs of a staged container (the staging store, whatever its index is kept in). */
export interface PartStaging {
  readonly dir: string;
  /** Staged entries in name order, read a page at a time (removing while walking is safe). */
  entries(): Iterable<{ readonly name: string }>;
  remove(name: string, reason: RetentionReason): Promise<void>;
  /** Commits what was removed. */
  flush(): void;
}

/** The part a staged container was filled under, next to its pull mark; absent means the whole container. */
const PART_FILE = "part.json";

/**
 * Makes a staged container hold only this shard's part, after the part changed (N changed, or the container was
 * split or joined). Staged copies of names another shard now owns leave staging for the retention area (as any
 * copy that leaves staging does): never through the delete guard, never as a deletion at the target, which the
 * push cannot even see, since it lists only its own part there. The pull mark goes too: a staging filled under
 * the old part does not say what the source holds in the new one, so no push deletes or claims a recovery point
 * on it until a pull has listed the new part. Returns true when the part changed. An unchanged part costs one stat.
 */
export async function adoptPart(store: PartStaging, part: ContainerPart): Promise<boolean> {
  const file = join(store.dir, PART_FILE);
  const identity = partIdentity(part);
  const before = (await exists(file)) ? String(JSON.parse(await fs.readFile(file, "utf8")).part) : "whole";
  if (before === identity) return false;
  await clearPullMark(store.dir);
  // The index's cursor reads by keyset, so removing behind it neither skips entries nor holds them all in memory.
  for (const { name } of store.entries()) {
    if (!ownsName(part, name)) await store.remove(name, "moved to another shard");
  }
  store.flush();
  // Written last: a run killed before this does it all again.
  if (identity === "whole") await fs.rm(file, { force: true });
  else await writeFileAtomic(file, JSON.stringify({ part: identity }) + "\n");
  return true;
}

/**
 * Empties the staging of whole containers this shard no longer owns (another shard took them when N changed), so
 * their copies do not sit on this disk forever. A container never staged here costs one stat.
 */
export async function releaseUnownedContainers(stagingDir: string, srcKey: string, containers: readonly string[], shard: ShardSpec | undefined,
  retention: RetentionArea): Promise<void> {
  for (const container of containers) {
    const part = containerPart(shard, container);
    if (part.kind !== "none" || !(await exists(join(stagingDir, srcKey, container)))) continue;
    const store = await StagingStore.open(stagingDir, srcKey, container, retention);
    try {
      await adoptPart(store, part);
    } finally {
      await store.close();
    }
  }
}
