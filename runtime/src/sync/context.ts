import { ResolvedConfig } from "../config/schema";
import { Events } from "../report/events";
import { RetentionArea } from "../staging/retention";
import { SiteClient } from "../storage/site-client";
import { ServiceClock } from "./service-clock";
import { TargetVersions } from "../versions/target-versions";
import { ShardSpec } from "../shard/shard-spec";

/** Everything one hop needs; side effects (clients, clock, events) come in here so tests can record them. */
export interface SyncContext {
  readonly config: ResolvedConfig;
  readonly src: SiteClient;
  readonly dst: SiteClient;
  /** Folder-safe keys of the two sites, for staging and retention paths. */
  readonly srcKey: string;
  readonly dstKey: string;
  readonly retention: RetentionArea;
  readonly events: Events;
  readonly signal: AbortSignal;
  /** Containers whose delete guard is lifted for this run (`--allow-mass-delete`); "*" lifts all. */
  readonly allowMassDelete: ReadonlySet<string>;
  /** Containers whose mass-change guard is lifted for this run (`--allow-mass-change`); "*" lifts all. */
  readonly allowMassChange: ReadonlySet<string>;
  readonly clock: () => Date;
  /** The storage service's clock: retention and recovery points are measured on it. */
  readonly serviceClock: ServiceClock;
  /** Point-in-time history at the target: every version a push replaces or deletes is kept there first.
   *  @default none (plan, or `versionsContainer: null`) */
  readonly versions?: TargetVersions;
  /** This process's shard of the pair: every listing sees only its part (docs/scale-out.md).
   *  @default none: the whole pair */
  readonly shard?: ShardSpec;
}

/** One planned or performed action on one blob. */
export interface ItemAction {
  readonly name: string;
  readonly action: "copy" | "adopt" | "delete" | "skip";
  readonly reason: string;
  readonly size?: number;
}

/** Counts for one hop of one container. */
export interface HopStats {
  listed: number;
  copied: number;
  adopted: number;
  skipped: number;
  deleted: number;
  bytes: number;
  /** Deletions not done because a transfer of the same hop failed, or (push) because the pull of that name failed. */
  heldBack: number;
  /** Destination copies we held no copy of, saved to the retention area before being replaced or deleted. */
  retainedFromDestination: number;
  /** Source blobs whose stored Content-MD5 is stale, replicated as served. */
  staleMd5: number;
  /** Target versions kept in the versions container before being replaced or deleted. */
  versionsKept: number;
  failed: { name: string; error: string }[];
  /** Blobs that can never replicate as they are (a reserved name), refused before any transfer. */
  refused: { name: string; error: string }[];
}

export function newHopStats(): HopStats {
  return { listed: 0, copied: 0, adopted: 0, skipped: 0, deleted: 0, bytes: 0, heldBack: 0, retainedFromDestination: 0, staleMd5: 0, versionsKept: 0, failed: [], refused: [] };
}

export function allowsMassDelete(ctx: SyncContext, container: string): boolean {
  return ctx.allowMassDelete.has("*") || ctx.allowMassDelete.has(container);
}

export function allowsMassChange(ctx: SyncContext, container: string): boolean {
  return ctx.allowMassChange.has("*") || ctx.allowMassChange.has(container);
}

export const MiB = 1024 * 1024;
