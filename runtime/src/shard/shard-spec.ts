import { join } from "node:path";
import { ConfigError, ResolvedConfig } from "../config/schema";

/** This process's shard of the pair: `index` from 0 to `count` − 1, and the containers split by top-level prefix. */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
  readonly split: readonly string[];
}

/** `--shard i/N` as parsed from the command line. */
export interface ShardFlag {
  readonly index: number;
  readonly count: number;
}

/** The most shards a pair may have: far more intermediaries than any stamp would run, small enough to check. */
export const MAX_SHARDS = 1000;

/** Characters of a scale set instance's computer name that hold its instance ID (base 36, zero-padded). */
const HOSTNAME_INDEX_CHARS = 6;

/**
 * The shard index in a VM scale set instance's computer name: Azure names instances `computer_name_prefix` plus
 * the instance ID in base 36, zero-padded to 6 characters, and keeps the name across reimaging. Undefined when
 * the last 6 characters are not base 36.
 */
export function indexFromHostname(hostname: string): number | undefined {
  const tail = hostname.slice(-HOSTNAME_INDEX_CHARS);
  if (tail.length < HOSTNAME_INDEX_CHARS || !/^[0-9a-z]+$/i.test(tail)) return undefined;
  return parseInt(tail, 36);
}

/**
 * The shard this process runs, from the config's `shard` key and the `--shard` flag (which wins), or undefined
 * for one shard: then paths and records are exactly those of an unsharded pair. Pure: the host name comes in.
 */
export function resolveShard(config: ResolvedConfig, flag: ShardFlag | undefined, hostname: string): ShardSpec | undefined {
  const split = config.shard?.split ?? [];
  if (flag) return flag.count > 1 ? { index: flag.index, count: flag.count, split } : undefined;
  const s = config.shard;
  if (!s || s.count === 1) return undefined;
  if (s.index !== null) return { index: s.index, count: s.count, split };
  if (s.indexFrom === "hostname") {
    const index = indexFromHostname(hostname);
    if (index === undefined) {
      throw new ConfigError([`shard.indexFrom "hostname": host name "${hostname}" does not end in ${HOSTNAME_INDEX_CHARS} base-36 characters ` +
        "(a scale set instance's computer name: its prefix and the instance ID in base 36); set shard.index or pass --shard i/N"]);
    }
    if (index >= s.count) {
      throw new ConfigError([`shard.indexFrom "hostname": the index from host name "${hostname}" is ${index}, not below shard.count (${s.count}); ` +
        "raise shard.count or use instance IDs from 0"]);
    }
    return { index, count: s.count, split };
  }
  throw new ConfigError([`shard: shard.index or shard.indexFrom is needed, or --shard i/N on the command line (shard.count is ${s.count})`]);
}

/** The shard count `status` and a whole-pair `verify` merge over, without needing this machine's index. */
export function shardCount(config: ResolvedConfig, flag: ShardFlag | undefined): number {
  return flag?.count ?? config.shard?.count ?? 1;
}

/**
 * Staging and state per shard index when there are several (so N processes on one machine never share a lock,
 * a staging index or a status file), as today otherwise. The folder keeps its index when N changes: shard i's
 * staged copies stay, and whatever it no longer owns leaves its staging (see `adoptPart`).
 */
export function shardDirs(config: Pick<ResolvedConfig, "stagingDir" | "stateDir">, shard: ShardSpec | undefined): { stagingDir: string; stateDir: string } {
  if (!shard) return { stagingDir: config.stagingDir, stateDir: config.stateDir };
  return { stagingDir: join(config.stagingDir, `shard-${shard.index}`), stateDir: join(config.stateDir, `shard-${shard.index}`) };
}

/** The status record's name in the status container: `<source>.json` as today, `<source>/shard-<i>.json` per shard. */
export function statusBlobName(srcKey: string, shard: ShardSpec | undefined): string {
  return shard ? `${srcKey}/shard-${shard.index}.json` : `${srcKey}.json`;
}

/** How one command sees the shards: the part its listings cover, and whose folders it uses. */
export interface CommandShard {
  /** The part every listing covers; undefined for the whole pair. */
  readonly shard?: ShardSpec;
  /** Whose staging and state folders the command uses. */
  readonly dirs?: ShardSpec;
  /** Shards the pair has, for `status`. */
  readonly count: number;
}

/**
 * The shard a command works on. Replication commands need their index (a bad one is a config error, exit 2).
 * `verify` checks the whole pair unless `--shard` names a part, and `status` merges all shards: neither needs
 * this machine's index, though both use its folders when it has one.
 */
export function shardForCommand(config: ResolvedConfig, command: string, flag: ShardFlag | undefined, hostname: string): CommandShard {
  const count = shardCount(config, flag);
  if ((command === "verify" && !flag) || command === "status") {
    let dirs: ShardSpec | undefined;
    try {
      dirs = resolveShard(config, flag, hostname);
    } catch {
      // No index here: only this machine's push records (used to name changes made behind its back) are missed.
    }
    return { dirs, count };
  }
  const shard = resolveShard(config, flag, hostname);
  return { shard, dirs: shard, count };
}
