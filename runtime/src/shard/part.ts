import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";
import { rendezvousOwner } from "./rendezvous";
import { ShardSpec } from "./shard-spec";

/**
 * One shard's view of one container:
 * - `whole`: every blob (no shards, or a container this shard owns outright);
 * - `none`: nothing (a container another shard owns);
 * - `prefixes`: a split container, of which this shard owns the top-level prefixes rendezvous hashing gives it.
 */
export type ContainerPart =
  | { readonly kind: "whole" }
  | { readonly kind: "none" }
  | { readonly kind: "prefixes"; readonly container: string; readonly index: number; readonly count: number; readonly owners: Map<string, number> };

/** The part of `container` that `shard` replicates. Pure: from the config alone. */
export function containerPart(shard: ShardSpec | undefined, container: string): ContainerPart {
  if (!shard) return WHOLE;
  if (shard.split.includes(container)) return { kind: "prefixes", container, index: shard.index, count: shard.count, owners: new Map() };
  // Whole containers are keyed apart from prefixes, so a container and a prefix of the same name are independent.
  return rendezvousOwner(`container\u0000${container}`, shard.count) === shard.index ? WHOLE : NONE;
}

/** The containers a shard lists at all: those it owns whole, and every split one. */
export function ownedContainers(containers: readonly string[], shard: ShardSpec | undefined): string[] {
  return containers.filter((c) => containerPart(shard, c).kind !== "none");
}

/**
 * The containers whose target-side housekeeping (purging old kept versions) this shard does: those it owns whole,
 * and the split ones on shard 0 only, so N shards do not race to delete the same version blobs.
 */
export function housekeepingContainers(containers: readonly string[], shard: ShardSpec | undefined): string[] {
  return containers.filter((c) => {
    const kind = containerPart(shard, c).kind;
    return kind === "whole" || (kind === "prefixes" && shard?.index === 0);
  });
}

/**
 * What decides a name's owner in a split container: the part before the first `/`, or the whole name for a
 * top-level blob. A top-level blob `a` and the prefix `a/` share a key, so they have one owner.
 */
export function topLevelKey(name: string): string {
  const slash = name.indexOf("/");
  return slash < 0 ? name : name.slice(0, slash);
}

/**
 * Where this shard's scratch blobs go (page and append blobs are written there, then copied into place). In a split
 * container every shard writes scratch blobs and removes those a killed run left, so each must see its own and
 * never another's, which may be mid-copy: the shard's index is in the name.
 */
export function scratchPrefixFor(shard: ShardSpec | undefined): string {
  return shard ? `${SCRATCH_PREFIX}shard-${shard.index}-` : SCRATCH_PREFIX;
}

/** True when `name` (a blob, or a `prefix/` of a delimiter listing) belongs to this part. */
export function ownsName(part: ContainerPart, name: string): boolean {
  if (part.kind !== "prefixes") return part.kind === "whole";
  if (name.startsWith(SCRATCH_PREFIX)) {
    // Every shard looks under the scratch prefix for its own; untagged ones (an unsharded run's) are shard 0's to remove.
    if (name === SCRATCH_PREFIX) return true;
    const tagged = /^shard-(\d+)-/.exec(name.slice(SCRATCH_PREFIX.length));
    return (tagged ? Number(tagged[1]) : 0) === part.index;
  }
  const key = topLevelKey(name);
  let owner = part.owners.get(key);
  if (owner === undefined) {
    owner = rendezvousOwner(`prefix\u0000${part.container}\u0000${key}`, part.count);
    // A cache of recent keys, bounded: a flat container has one key per blob, and memory must not grow with it.
    if (part.owners.size >= OWNER_CACHE_KEYS) part.owners.clear();
    part.owners.set(key, owner);
  }
  return owner === part.index;
}

/** The identity of a part, for noticing that a staging folder was filled under another one (N changed). */
export function partIdentity(part: ContainerPart): string {
  return part.kind === "prefixes" ? `prefixes ${part.index}/${part.count}` : part.kind;
}

/** Top-level keys whose owner a part remembers (a prefix's names come together, so a small cache hits). */
const OWNER_CACHE_KEYS = 4096;

const WHOLE: ContainerPart = Object.freeze({ kind: "whole" });
const NONE: ContainerPart = Object.freeze({ kind: "none" });
