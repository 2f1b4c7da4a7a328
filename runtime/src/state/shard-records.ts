import { hostname } from "node:os";
import { describeError, explainAuthFailure, FatalError, isAuthFailure, isNotFound } from "../storage/errors";
import { SiteClient } from "../storage/site-client";
import { statusBlobName } from "../shard/shard-spec";
import { SyncContext } from "../sync/context";
import { RunStatus } from "./status";
import { writeJsonRecord } from "./status-blob";

/**
 * The records of shards 0..count-1 at the target (`<statusContainer>/<source>/shard-<i>.json`), undefined where a
 * shard has none. A record that cannot be read for another reason (forbidden, unreachable) is an error: the pair's
 * status is never computed from a partial read.
 */
export async function readShardRecords(dst: SiteClient, statusContainer: string, srcKey: string, count: number, signal?: AbortSignal): Promise<(RunStatus | undefined)[]> {
  return Promise.all(Array.from({ length: count }, async (_, index) => {
    const name = statusBlobName(srcKey, { index, count, split: [] });
    try {
      return JSON.parse((await dst.blob(statusContainer, name).downloadToBuffer(0, undefined, { abortSignal: signal })).toString("utf8")) as RunStatus;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isAuthFailure(err)) throw new FatalError(explainAuthFailure(dst.label, dst.site.sasEnv, `read ${statusContainer}/${name}`, err), 1);
      if (err instanceof SyntaxError) throw new FatalError(`${dst.label}: ${statusContainer}/${name} is not a status record (${err.message})`, 1);
      throw new FatalError(`${dst.label}: could not read ${statusContainer}/${name} (${describeError(err)})`, 1);
    }
  }));
}

/** What `writeRunStart` needs to know of the run that starts. */
export interface RunStart {
  readonly runId: string;
  readonly startedAt: string;
  readonly command: string;
  readonly direction: string;
  readonly version: string;
}

/**
 * Marks a sharded run as started in its record at the target: the last finished run's record (its recovery point
 * still stands) with `inProgress` set. A shard killed mid-run leaves it so, and the pair's status names that
 * shard instead of showing its last good run as if nothing had happened since. A last run of another direction
 * or another shard count vouches for nothing here: the record then has no recovery point. Best effort, like the
 * record itself.
 */
export async function writeRunStart(ctx: SyncContext, previous: RunStatus | undefined, run: RunStart): Promise<void> {
  const { shard, config, dst } = ctx;
  const statusContainer = config.statusContainer;
  if (!shard || !statusContainer) return;
  const name = statusBlobName(ctx.srcKey, shard);
  const same = previous && previous.direction === run.direction && previous.shard?.count === shard.count && previous.shard.index === shard.index;
  const base: RunStatus = same ? previous : {
    tool: "dr-sync", version: run.version, runId: run.runId, command: run.command, direction: run.direction,
    source: { name: config.source.name, host: new URL(config.source.blobEndpoint).host }, target: { name: config.target.name, host: new URL(config.target.blobEndpoint).host },
    startedAt: run.startedAt, endedAt: run.startedAt, outcome: "ok", exitCode: 0, recoveryPoint: null, rpoAchievedSeconds: null,
    rpoObjectiveMinutes: config.rpoObjectiveMinutes, clockSkewSeconds: null, containers: [], totals: { copied: 0, deleted: 0, bytes: 0, failed: 0 },
  };
  const record: RunStatus = { ...base, shard: { index: shard.index, count: shard.count }, inProgress: { runId: run.runId, startedAt: run.startedAt, host: hostname() } };
  const body = JSON.stringify(record, null, 2);
  try {
    await writeJsonRecord(dst, statusContainer, name, body);
  } catch (err) {
    ctx.events.warn("status.blob", `could not mark the run as started in ${statusContainer}/${name} at the target: ${describeError(err)}`);
  }
}
