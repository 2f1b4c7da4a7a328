import { randomBytes } from "node:crypto";
import { EXIT_CODES } from "../cli/exit-codes";
import { PushRecords } from "../state/push-records";
import { ContainerStatus, RunStatus, StatusStore, summarizeHop } from "../state/status";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { syncFileSystem, writeFileAtomic } from "../staging/atomic-file";
import { TargetVersions } from "../versions/target-versions";
import { readMisses, repairMissesFirst } from "./dual-write-misses";
import { readPullMark, writePullMark } from "../staging/pull-mark";
import { StagingStore } from "../staging/staging-store";
import { killPoint } from "../index/kill-point";
import { describeError, FatalError, GuardError, StagingDiskError } from "../storage/errors";
import { FENCED_EXIT_CODE, fencedMessage, readFence } from "../state/fence";
import { HopStats, SyncContext } from "./context";
import { planExecutor, storageExecutor } from "./executor";
import { PlanSink } from "../report/plan-output";
import { pullContainer } from "./pull";
import { actOnPush, pushContainer, PushWalk, walkPush } from "./push";
import { AheadResult, PushAhead } from "./push-ahead";
import { VersionsAhead } from "./versions-ahead";
import { LinkedAbort } from "../transfer/linked-abort";
import { adoptPart } from "../shard/adopt-part";
import { containerPart, housekeepingContainers, ownedContainers } from "../shard/part";
import { statusBlobName } from "../shard/shard-spec";
import { writeRunStart } from "../state/shard-records";
import { writeJsonRecord } from "../state/status-blob";

export type SyncCommand = "run" | "pull" | "push" | "plan";


import { VERSION } from "../version"; export { VERSION };

/**
 * Runs the hops a command asks for over every configured container and records the outcome. A failure in one
 * container does not stop the others, except a failure of the machine itself (staging disk full), which stops
 * the run.
 */
export async function runSync(base: SyncContext, command: Exclude<SyncCommand, "plan">, statusStore: StatusStore): Promise<RunStatus> {
  const startedAt = base.clock();
  const runId = `${startedAt.toISOString().replace(/[-:.]/g, "").slice(0, 15)}-${randomBytes(3).toString("hex")}`;
  const versionsContainer = base.config.versionsContainer;
  const ctx: SyncContext = command === "pull" || !versionsContainer ? base
    : { ...base, versions: new TargetVersions(base.dst, versionsContainer, runId, () => base.serviceClock.now(), base.signal) };
  const previous = await statusStore.read();
  // A recovery point belongs to one direction: after a failover flips it, the new direction has none until a cycle
  // in that direction completes.
  const direction = `${ctx.srcKey} -> ${ctx.dstKey}`;
  const prevRp = new Map(previous?.direction === direction ? previous.containers.map((c) => [c.container, c.recoveryPoint]) : []);
  const containers: ContainerStatus[] = [];
  let runError: string | undefined;

  ctx.events.info("run.start", `dr-sync ${command}: ${ctx.src.label} -> ${ctx.dst.label}, ${ctx.config.containers.length} container(s)`, { command });
  let exitCode: number = EXIT_CODES.ok;
  // Blobs applications wrote at one site only (best-effort dual writes), replicated before anything else. The
  // journal is read at the source (reading only; a failure is a warning) while the fence is read at the target.
  const journal = command === "run" ? readMisses(ctx) : undefined;
  journal?.catch(() => undefined);
  if (command !== "pull") {
    try {
      const fenceContainer = ctx.config.statusContainer ?? "dr-sync-status";
      const fence = await readFence(ctx.dst, fenceContainer, ctx.signal);
      if (fence?.role === "active") {
        runError = fencedMessage(ctx.dst, fenceContainer, fence);
        exitCode = FENCED_EXIT_CODE;
        ctx.events.error("fence.active", runError);
      }
    } catch (err) {
      runError = err instanceof FatalError ? err.message : describeError(err);
      exitCode = EXIT_CODES.failed;
      ctx.events.error("fence.unreadable", runError);
    }
  }

  if (command !== "pull" && !runError) await writeRunStart(ctx, previous, { runId, startedAt: startedAt.toISOString(), command, direction, version: VERSION });

  const misses = journal && !runError ? await journal : undefined;

  for (const container of ownedContainers(ctx.config.containers, ctx.shard)) {
    if (runError) {
      containers.push({ container, recoveryPoint: prevRp.get(container) ?? null, outcome: "skipped", error: `not replicated: ${runError}` });
      continue;
    }
    let pullStats: HopStats | undefined;
    let pushStats: HopStats | undefined;
    let rp = prevRp.get(container) ?? null;
    let exceptions: { name: string; error: string }[] = [];
    let store: StagingStore | undefined;
    let early: Promise<PushWalk> | undefined;
    let ahead: PushAhead | undefined;
    let versionsAhead: VersionsAhead | undefined;
    // What runs beside the pull ends with the container: a pull that fails fast does not wait for the walk.
    const besidePull = new LinkedAbort(ctx.signal);
    try {
      store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
      // A part that changed (N changed) vouches for nothing its old recovery point covered.
      if (await adoptPart(store, containerPart(ctx.shard, container))) rp = null;
      const exec = storageExecutor(ctx, container, store);
      // The pull never touches the push records.
      const records = command !== "pull" ? new PushRecords(store.rows, ctx.dstKey) : undefined;
      const journaled = misses?.byContainer.get(container);
      const missRepair = journaled && records ? await repairMissesFirst(ctx, container, store, records, journaled) : undefined;
      // Both listings at once: on a quiet cycle they are nearly all the run costs. The push's walk runs beside the
      // pull on the target's listing as it streams; it changes nothing, and is acted on only if the pull moves
      // nothing (staging is then what it walked), otherwise walked again on a new listing.
      early = command === "run" && records ? walkPush({ ...ctx, signal: besidePull.signal }, container, store, records, exec, { noteUnrecorded: true }) : undefined;
      early?.catch(() => undefined);
      // New blobs go to the target while the pull goes on: a first copy keeps both sites busy at once.
      ahead = early && records ? new PushAhead(ctx, container, store, records, early) : undefined;
      // And the target's versions of what the pull replaces, copied while it goes on: the push only records them.
      versionsAhead = early && records && ctx.versions ? new VersionsAhead(ctx, ctx.versions, container, store.rows, records) : undefined;
      let pullMoved = false;
      if (command !== "push") {
        const pulled = await pullContainer(ctx, container, store, exec, {
          ...(ahead ? { onNewStaged: (name) => ahead!.offer(name), earlyBlocks: (blob) => ahead!.blocksFor(blob) } : {}),
          ...(versionsAhead ? { onReplacing: (name) => versionsAhead!.offer(name) } : {}),
        });
        pullStats = pulled.stats;
        if (pulled.listingStart) {
          if (pulled.stats.copied + pulled.stats.deleted > 0) {
            // The mark vouches for what was staged: it must not reach the disk before the staged files do.
            await syncFileSystem(store.dir).catch((e) => ctx.events.warn("staging.sync", `${describeError(e)}; staged copies are checked by their MD5 before any push`));
          }
          await writePullMark(store.dir, {
            listingStart: pulled.listingStart.serviceTime.toISOString(), clockSkewSeconds: ctx.serviceClock.skewSeconds ?? 0,
            failed: [...pulled.stats.failed, ...pulled.stats.refused],
          });
        }
        hopEnd(ctx, "pull", container, pulled.stats);
        pullMoved = pulled.stats.copied + pulled.stats.deleted > 0;
      }
      if (records) {
        // A listing as old as a pull that moved data would hide what was written at the target meanwhile: then the
        // push lists the target again (a walk that failed is walked again too, and fails for itself).
        const earlyWalk = early && await early.catch(() => undefined);
        const aheadDone: AheadResult | undefined = await ahead?.finish();
        const markBefore = await readPullMark(store.dir);
        // What the pull could not stage is left alone at the target (the walk beside the pull did not know it yet).
        const leaveAlone = new Set((markBefore?.failed ?? []).map((f) => f.name));
        const walk = !pullMoved && leaveAlone.size === 0 && earlyWalk && markBefore ? earlyWalk
          : await walkPush(ctx, container, store, records, exec, { stagingComplete: markBefore !== undefined, ahead: aheadDone, leaveAlone });
        if (leaveAlone.size) {
          ctx.events.warn("push.left", `${leaveAlone.size} blob(s) of "${container}" the pull could not stage are left as they are at the target (not written, not deleted)`, { container, count: leaveAlone.size });
        }
        // The versions copied ahead are looked up by the push's writes only: the walk's listing goes on beside them.
        await versionsAhead?.finish();
        const pushed = await actOnPush(ctx, container, store, records, exec, walk);
        pushStats = pushed.stats;
        hopEnd(ctx, "push", container, pushStats);
        // Blobs that failed are named, not allowed to hold the rest of the container back; a staging the mark no
        // longer vouches for (a damaged copy dropped since) advances nothing.
        const mark = await readPullMark(store.dir);
        if (markBefore && mark) {
          rp = markBefore.listingStart;
          exceptions = [...(markBefore.failed ?? []), ...pushStats.failed];
        }
      } else if (pullStats) {
        exceptions = [...pullStats.failed, ...pullStats.refused];
      }
      const failed = (pullStats?.failed.length ?? 0) + (pushStats?.failed.length ?? 0) > 0;
      containers.push({
        container, recoveryPoint: rp, outcome: failed ? "failed" : "ok", pull: pullStats && summarizeHop(pullStats), push: pushStats && summarizeHop(pushStats),
        ...(exceptions.length ? { exceptions: exceptions.slice(0, MAX_EXCEPTIONS), exceptionCount: exceptions.length } : {}),
        ...(missRepair ? { dualWriteMisses: missRepair } : {}),
      });
    } catch (err) {
      const guard = err instanceof GuardError;
      const message = err instanceof FatalError ? err.message : `unexpected error: ${describeError(err)}`;
      ctx.events.error(guard ? "guard.stopped" : "container.failed", message, { container });
      containers.push({ container, recoveryPoint: rp, outcome: guard ? "guard" : "failed", error: message,
        pull: pullStats && summarizeHop(pullStats), push: pushStats && summarizeHop(pushStats) });
      if (err instanceof StagingDiskError) runError = err.message;
      if (ctx.signal.aborted) runError = "the run was interrupted";
    } finally {
      // The walk beside the pull and the writes ahead use this store's index: they end before the index closes. The
      // writes ahead are stopped first (they wait on the walk, and must not start once the container stopped).
      ahead?.stop();
      versionsAhead?.stop();
      besidePull.abort();
      besidePull.release();
      await early?.catch(() => undefined);
      await versionsAhead?.finish();
      if (ahead && !pushStats) {
        const done = await ahead.finish().catch(() => undefined);
        if (done?.copied) ctx.events.info("push.ahead", `${container}: ${done.copied} new blob(s) were pushed ahead before the run stopped this container`, { container, copied: done.copied });
      }
      await store?.close().catch((e) => ctx.events.warn("staging.close", `staging index of "${container}": ${describeError(e)}`, { container }));
    }
  }

  if (misses && !ctx.signal.aborted) await misses.commit();
  const endedAt = ctx.clock();
  const rps = containers.map((c) => c.recoveryPoint);
  const recoveryPoint = rps.some((r) => r === null) ? null : rps.reduce<string | null>((min, r) => (min === null || (r as string) < min ? r : min), null);
  const serviceNow = ctx.serviceClock.now().getTime();
  if (command !== "push" && ctx.serviceClock.measured) {
    // Copies are filed by the service's clock, so they are purged by it, and only once a listing of this run told
    // us that clock: a VM clock that jumped either way neither purges early nor keeps forever.
    const purged = await ctx.retention.purge(ctx.config.retentionDays, new Date(serviceNow));
    if (purged) ctx.events.info("retention.purged", `purged ${purged} retention day folder(s) older than ${ctx.config.retentionDays} days`);
  }
  if (ctx.versions && ctx.serviceClock.measured && exitCode !== FENCED_EXIT_CODE) {
    await purgeVersionsDaily(ctx, ctx.versions, new Date(serviceNow));
  }
  const anyGuard = containers.some((c) => c.outcome === "guard");
  const anyFailed = containers.some((c) => c.outcome === "failed" || c.outcome === "skipped");
  const allFailed = containers.every((c) => c.outcome !== "ok");
  exitCode ||= anyGuard && !anyFailed ? EXIT_CODES.guard : anyFailed || anyGuard ? EXIT_CODES.failed : EXIT_CODES.ok;
  const status: RunStatus = {
    tool: "dr-sync",
    version: VERSION,
    runId,
    command,
    source: { name: ctx.config.source.name, host: new URL(ctx.config.source.blobEndpoint).host },
    target: { name: ctx.config.target.name, host: new URL(ctx.config.target.blobEndpoint).host },
    direction,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    outcome: exitCode === 0 ? "ok" : anyGuard && !anyFailed ? "guard" : allFailed ? "failed" : "partial",
    exitCode,
    recoveryPoint,
    rpoAchievedSeconds: recoveryPoint ? Math.max(0, Math.round((serviceNow - Date.parse(recoveryPoint)) / 1000)) : null,
    rpoObjectiveMinutes: ctx.config.rpoObjectiveMinutes,
    clockSkewSeconds: ctx.serviceClock.skewSeconds,
    containers,
    totals: {
      copied: containers.reduce((s, c) => s + (c.push?.copied ?? c.pull?.copied ?? 0), 0),
      deleted: containers.reduce((s, c) => s + (c.push?.deleted ?? c.pull?.deleted ?? 0), 0),
      bytes: containers.reduce((s, c) => s + (c.pull?.bytes ?? 0) + (c.push?.bytes ?? 0), 0),
      failed: containers.reduce((s, c) => s + (c.pull?.failed ?? 0) + (c.push?.failed ?? 0), 0),
    },
    error: runError,
    ...(ctx.shard ? { shard: { index: ctx.shard.index, count: ctx.shard.count } } : {}),
  };
  await statusStore.write(status);
  // A fenced destination is the live site: not even the status record is written there.
  if (command !== "pull" && exitCode !== FENCED_EXIT_CODE) await writeStatusBlob(ctx, status);
  ctx.events.info("run.end", `dr-sync ${command} ${status.outcome}: recovery point ${status.recoveryPoint ?? "none yet"}`, {
    outcome: status.outcome, exitCode, recoveryPoint: status.recoveryPoint, rpoAchievedSeconds: status.rpoAchievedSeconds, totals: status.totals,
  });
  return status;
}

/**
 * What `run` would copy and delete, changing nothing: the same hops with the plan's executor, the pull's changes
 * applied to the index in a transaction that is never committed (`planView`) and the push planned on it. Each action goes to `sink` as it is found.
 * Returns false when a container could not be planned.
 */
export async function planSync(ctx: SyncContext, sink: PlanSink): Promise<boolean> {
  let allPlanned = true;
  for (const container of ownedContainers(ctx.config.containers, ctx.shard)) {
    let store: StagingStore | undefined;
    let planned: StagingStore | undefined;
    sink.begin(container);
    try {
      store = await StagingStore.open(ctx.config.stagingDir, ctx.srcKey, container, ctx.retention);
      planned = store.planView();
      const exec = planExecutor(ctx, planned, (hop, action) => sink.action(hop, action));
      const pulled = await pullContainer(ctx, container, planned, exec);
      killPoint("plan.after-pull");
      if (pulled.guardStop) {
        // The run would stop this container at the pull: there is no push to plan.
        sink.end({ guardStops: [pulled.guardStop] });
        continue;
      }
      const pushed = await pushContainer(ctx, container, planned, new PushRecords(planned.rows, ctx.dstKey), exec);
      sink.end(pushed.guardStop ? { guardStops: [pushed.guardStop] } : {});
    } catch (err) {
      allPlanned = false;
      sink.end({ error: err instanceof FatalError ? err.message : describeError(err) });
    } finally {
      await planned?.close();
      await store?.close();
    }
  }
  sink.close();
  return allPlanned;
}

/**
 * Purges the target's kept versions older than `retentionDays`, by the service's clock, once per service day and
 * container (the day of the last purge is kept in the state folder): a listing of the versions every cycle would
 * make a quiet cycle cost more. Best effort: a failure is a warning, and the next day tries again.
 */
async function purgeVersionsDaily(ctx: SyncContext, versions: TargetVersions, serviceNow: Date): Promise<void> {
  const file = join(ctx.config.stateDir, "versions-purged.json");
  const today = serviceNow.toISOString().slice(0, 10);
  let done: Record<string, string> = {};
  try {
    done = JSON.parse(await fs.readFile(file, "utf8"));
  } catch {
    // First purge on this machine.
  }
  let changed = false;
  for (const container of housekeepingContainers(ctx.config.containers, ctx.shard)) {
    if (done[container] === today) continue;
    try {
      const removed = await versions.purge(container, ctx.config.retentionDays, serviceNow);
      if (removed) ctx.events.info("versions.purged", `purged ${removed} kept version blob(s) of "${container}" older than ${ctx.config.retentionDays} days from ${versions.versionsContainer}`, { container });
      done[container] = today;
      changed = true;
    } catch (err) {
      ctx.events.warn("versions.purge", `could not purge old versions of "${container}" in ${versions.versionsContainer}: ${describeError(err)}`, { container });
    }
  }
  if (changed) await writeFileAtomic(file, JSON.stringify(done));
}

/** Failed or refused blobs named per container in the status record. */
const MAX_EXCEPTIONS = 100;

function hopEnd(ctx: SyncContext, hop: string, container: string, s: HopStats): void {
  ctx.events.info("hop.end", `${hop} ${container}: ${s.copied} copied, ${s.adopted ? `${s.adopted} adopted, ` : ""}${s.deleted} deleted, ` +
    `${s.skipped} unchanged, ${s.failed.length} failed${s.heldBack ? `, ${s.heldBack} deletions held back` : ""}`,
  { hop, container, copied: s.copied, adopted: s.adopted, deleted: s.deleted, skipped: s.skipped, failed: s.failed.length, bytes: s.bytes, heldBack: s.heldBack });
}

/** Writes the run's status at the target, so the DR site can be monitored without the VM. Best effort. */
async function writeStatusBlob(ctx: SyncContext, status: RunStatus): Promise<void> {
  const name = ctx.config.statusContainer;
  if (!name) return;
  const body = JSON.stringify(status, null, 2);
  const blobName = statusBlobName(ctx.srcKey, ctx.shard);
  try {
    await writeJsonRecord(ctx.dst, name, blobName, body);
  } catch (err) {
    ctx.events.warn("status.blob", `could not write the status record ${name}/${blobName} at the target: ${describeError(err)}`);
  }
}
