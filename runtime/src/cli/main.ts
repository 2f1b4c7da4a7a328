import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import { promises as fs } from "node:fs";
import { ConfigError } from "../config/schema";
import { applyV8Policy, v8PolicyToApply } from "../config/v8-policy";
import { EXIT_CODES } from "./exit-codes";
import { checkSas, loadConfig } from "../config/load-config";
import { Events, EventSink, JsonLineSink } from "../report/events";
import { ProgressBarSink } from "../report/progress";
import { Redactor } from "../report/redact";
import { formatPairStatus, formatRunSummary, formatStatus } from "../report/summary";
import { jsonAsOfSink, textAsOfSink } from "../report/as-of-output";
import { RunLock } from "../state/lock";
import { mergeShardStatuses, StatusStore } from "../state/status";
import { readShardRecords } from "../state/shard-records";
import { releaseUnownedContainers } from "../shard/adopt-part";
import { shardDirs, shardForCommand } from "../shard/shard-spec";
import { FENCED_EXIT_CODE, fencedMessage, readFence } from "../state/fence";
import { ensurePrivateDir } from "../staging/atomic-file";
import { siteKey } from "../staging/object-path";
import { RetentionArea } from "../staging/retention";
import { describeError, FatalError } from "../storage/errors";
import { SiteClient } from "../storage/site-client";
import { SyncContext } from "../sync/context";
import { ServiceClock } from "../sync/service-clock";
import { restoreRetained } from "../sync/restore";
import { restoreAsOf } from "../sync/restore-as-of";
import { TargetVersions } from "../versions/target-versions";
import { planSync, runSync, VERSION } from "../sync/run";
import { jsonPlanSink, textPlanSink } from "../report/plan-output";
import { jsonVerifySink, textVerifySink } from "../report/verify-output";
import { jsonKeptSink, textKeptSink } from "../report/kept-output";
import { listKept } from "../sync/list-kept";
import { verifySites } from "../verify/verify";
import { CliArgs, parseArgs, USAGE } from "./args";
import { writeThrough } from "./write-through";

export interface Io {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly signal: AbortSignal;
}

/** Runs one command and returns its exit code. Everything printed passes through the redactor. */
export async function main(io: Io): Promise<number> {
  const redactor = new Redactor();
  const out = (s: string) => io.stdout.write(redactor.redact(s) + "\n");
  // Documents written a piece at a time (plan, verify and restore --as-of with --json), never held whole.
  const write = (s: string) => io.stdout.write(redactor.redact(s));
  const err = (s: string) => io.stderr.write(redactor.redact(s) + "\n");
  let args: CliArgs;
  try {
    args = parseArgs(io.argv);
  } catch (e) {
    err(`dr-sync: ${(e as Error).message}`);
    return EXIT_CODES.usage;
  }
  if (args.command === "help") {
    out(USAGE);
    return EXIT_CODES.ok;
  }
  if (args.command === "version") {
    out(VERSION);
    return EXIT_CODES.ok;
  }

  let lock: RunLock | undefined;
  let events: Events | undefined;
  try {
    const loaded = await loadConfig(args.config as string, io.env);
    redactor.add(loaded.sourceSas);
    redactor.add(loaded.targetSas);
    // Each shard has its own folders (lock, staging, state), and its listings see only its part.
    const sharding = shardForCommand(loaded.config, args.command, args.shard, hostname());
    const config = { ...loaded.config, ...shardDirs(loaded.config, sharding.dirs) };
    const sinks: EventSink[] = [];
    if (io.stderr.isTTY) sinks.push(new ProgressBarSink(io.stderr));
    else sinks.push(new JsonLineSink((l) => io.stderr.write(l), args.logLevel));
    events = new Events(sinks, redactor);
    for (const w of loaded.warnings) events.warn("config.warning", w);

    for (const dir of [config.stateDir, config.stagingDir]) {
      await ensurePrivateDir(dir);
      // A folder made by someone else (a unit's `install -d -m 0750`, a mount point) is tightened: it holds the data.
      const mode = (await fs.stat(dir)).mode & 0o777;
      if (mode & 0o077) {
        await fs.chmod(dir, 0o700).catch((e) => events?.warn("dir.mode", `${dir} is mode ${mode.toString(8)} and could not be made 0700 (${describeError(e)}); other users may read it`));
      }
    }
    const statusStore = new StatusStore(config.stateDir);
    const previous = await statusStore.read();
    const serviceClock = new ServiceClock(() => new Date(), previous?.clockSkewSeconds ?? null);
    const src = new SiteClient(config.source, loaded.sourceSas, config);
    const dst = new SiteClient(config.target, loaded.targetSas, config, "target");
    const ctx: SyncContext = {
      config, src, dst, srcKey: siteKey(config.source.blobEndpoint), dstKey: siteKey(config.target.blobEndpoint),
      retention: new RetentionArea(config.stagingDir, () => serviceClock.now(), (site, container, entry, dataPath, reason) =>
        events?.warn("retention.missing", `staged copy of "${entry.name}" (${container}) is gone from the staging disk (${dataPath}): it was ${reason}, and nothing of it could be kept in the retention area`,
          { container, blob: entry.name, site })),
      events, signal: io.signal,
      allowMassDelete: new Set(args.allowMassDelete), allowMassChange: new Set(args.allowMassChange), clock: () => new Date(), serviceClock,
      ...(sharding.shard ? { shard: sharding.shard } : {}),
    };

    switch (args.command) {
      case "status": {
        if (sharding.count > 1) {
          if (!config.statusContainer) throw new FatalError("status of a sharded pair merges the shards' records at the target, and statusContainer is null in the config", 2);
          const pair = mergeShardStatuses(await readShardRecords(dst, config.statusContainer, ctx.srcKey, sharding.count, io.signal), sharding.count, new Date(), config.rpoObjectiveMinutes);
          out(args.json ? JSON.stringify(pair, null, 2) : formatPairStatus(pair));
          return pair.exitCode;
        }
        const s = await statusStore.read();
        out(args.json ? JSON.stringify(s ?? null, null, 2) : formatStatus(s, new Date()));
        if (!s) return EXIT_CODES.failed;
        const age = s.recoveryPoint ? (Date.now() - (s.clockSkewSeconds ?? 0) * 1000 - Date.parse(s.recoveryPoint)) / 60000 : Infinity;
        return s.exitCode === EXIT_CODES.ok && (!s.rpoObjectiveMinutes || age <= s.rpoObjectiveMinutes) ? EXIT_CODES.ok : EXIT_CODES.failed;
      }
      case "verify": {
        const v = await verifySites(ctx, args.json ? jsonVerifySink(write) : textVerifySink(out), { deep: args.deep });
        return v.ok ? EXIT_CODES.ok : EXIT_CODES.failed;
      }
      case "retention": {
        const versions = config.versionsContainer ? new TargetVersions(dst, config.versionsContainer, "list", () => serviceClock.now(), io.signal) : undefined;
        await listKept({ stagingDir: config.stagingDir, retention: ctx.retention, versions, containers: config.containers, container: args.container, blob: args.blob },
          args.json ? jsonKeptSink(write) : textKeptSink(out), (m) => ctx.events.warn("retention.list", m));
        return EXIT_CODES.ok;
      }
      case "restore": {
        if (args.asOf) return await restoreContainerAsOf(args, ctx, out, write, loaded.sourceSas);
        const copies = await ctx.retention.list({ container: args.container, name: args.blob! });
        const pick = args.retainedAt ? copies.find((c) => c.retainedAt === args.retainedAt) : copies[0];
        if (!pick) throw new FatalError(`no retained copy of ${JSON.stringify(args.blob)} in container "${args.container}"${args.retainedAt ? ` retained at ${args.retainedAt}` : ""}; see dr-sync retention list`);
        if (!args.out) lock = await lockForWriting(args, ctx, loaded.sourceSas);
        out(await restoreRetained(ctx, pick, args.to, args.out));
        return EXIT_CODES.ok;
      }
    }

    lock = await RunLock.acquire(config.stateDir, args.command);
    if (lock.stale) {
      events.warn("lock.stale", `the previous ${lock.stale.command} (pid ${lock.stale.pid}, started ${lock.stale.startedAt}) did not finish; its partial work is checked and resumed`);
    }
    if (ctx.shard && args.command !== "plan") await releaseUnownedContainers(config.stagingDir, ctx.srcKey, config.containers, ctx.shard, ctx.retention);
    if (args.command === "plan") {
      const planned = await planSync(ctx, args.json ? jsonPlanSink(write) : textPlanSink(out));
      return planned ? EXIT_CODES.ok : EXIT_CODES.failed;
    }
    const status = await runSync(ctx, args.command as "run" | "pull" | "push", statusStore);
    events.close();
    out(args.json ? JSON.stringify(status, null, 2) : formatRunSummary(status));
    if (status.exitCode !== EXIT_CODES.ok && !args.json) {
      err(`dr-sync ${args.command}: ${status.outcome}; containers not listed as ok were left as they were apart from the copies shown (no deletions after a failure)`);
    }
    return status.exitCode;
  } catch (e) {
    events?.close();
    if (e instanceof ConfigError) {
      err(`dr-sync: ${e.message}\nnothing was touched`);
      return EXIT_CODES.usage;
    }
    if (e instanceof FatalError) {
      err(`dr-sync: ${e.message}`);
      return e.exitCode;
    }
    err(`dr-sync: unexpected error: ${describeError(e)}${(e as Error)?.stack ? `\n${(e as Error).stack}` : ""}`);
    return EXIT_CODES.failed;
  } finally {
    await lock?.release();
  }
}

/** A restore writes like a run does: under the lock, and never into the active site unless told so. */
async function lockForWriting(args: CliArgs, ctx: SyncContext, sourceSas: string): Promise<RunLock> {
  if (args.to === "source") {
    // The source's SAS needs only read and list for replication; a restore into it needs what a target's needs.
    const problems = checkSas("source", ctx.config.source.sasEnv, sourceSas, "rlwcd", new Date(), []);
    if (problems.length) throw new FatalError(`restore --to source writes to the source: ${problems.map((p) => p.replace(/^source\.sasEnv: /, "")).join("; ")}`, EXIT_CODES.usage);
  }
  const lock = await RunLock.acquire(ctx.config.stateDir, "restore");
  try {
    const site = args.to === "source" ? ctx.src : ctx.dst;
    const fenceContainer = ctx.config.statusContainer ?? "dr-sync-status";
    const fence = await readFence(site, fenceContainer, ctx.signal);
    if (fence?.role === "active" && !args.allowActiveSite) {
      throw new FatalError(`${fencedMessage(site, fenceContainer, fence)}. To restore into the live site on purpose, add --allow-active-site ` +
        "(what the restore replaces is kept first), or write a copy to a file with --out", FENCED_EXIT_CODE);
    }
    return lock;
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** `restore --as-of`: plans, prints, and with --yes (or --json) applies. */
async function restoreContainerAsOf(args: CliArgs, ctx: SyncContext, out: (s: string) => void, write: (s: string) => void, sourceSas: string): Promise<number> {
  const { config } = ctx;
  if (!config.versionsContainer) {
    throw new FatalError("restore --as-of reads the target's kept versions, and versionsContainer is null in the config; only single blobs kept on this machine can be restored (restore --blob)", EXIT_CODES.usage);
  }
  const asOf = new Date(args.asOf as string);
  const now = ctx.serviceClock.now();
  if (asOf.getTime() > now.getTime() + 60000) throw new FatalError(`--as-of ${args.asOf} is in the future (the service's time is about ${now.toISOString()})`, EXIT_CODES.usage);
  if (asOf.getTime() < now.getTime() - config.retentionDays * 86400000) {
    throw new FatalError(`--as-of ${args.asOf} is older than retentionDays (${config.retentionDays}): versions kept before ${new Date(now.getTime() - config.retentionDays * 86400000).toISOString()} may be purged, so that moment cannot be rebuilt exactly`, EXIT_CODES.usage);
  }
  const apply = !args.dryRun && (args.yes || args.json);
  const lock = apply ? await lockForWriting(args, ctx, sourceSas) : undefined;
  try {
    const versions = new TargetVersions(ctx.dst, config.versionsContainer, `restore-${now.toISOString().replace(/[-:.]/g, "").slice(0, 15)}`, () => ctx.serviceClock.now(), ctx.signal);
    const r = await restoreAsOf(ctx, versions, { container: args.container as string, asOf, to: args.to ?? "target", prefix: args.prefix, dryRun: !apply },
      args.json ? jsonAsOfSink(write) : textAsOfSink(out));
    if (!apply && !args.dryRun) {
      out("nothing was changed: run again with --yes to apply");
      return EXIT_CODES.usage;
    }
    return r.failedCount ? EXIT_CODES.failed : EXIT_CODES.ok;
  } finally {
    await lock?.release();
  }
}

/** The bundle's entry point: restrictive file modes, signals turned into a clean stop, and the exit code. */
if (require.main === module) {
  process.umask(0o077);
  // The contract's plain `node dr-sync.js run` has no flags: without the unit's V8 policy its heap would grow with
  // the container, and Turbofan would spend CPU on compiles a cycle is too short to gain from.
  applyV8Policy(v8PolicyToApply(process.execArgv, process.env.NODE_OPTIONS));
  writeThrough(process.stdout);
  const controller = new AbortController();
  // Every request in flight listens on the one run-wide signal; that is by design, not a leak.
  setMaxListeners(0, controller.signal);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) process.exit(EXIT_CODES.interrupted);
    stopping = true;
    process.stderr.write(`dr-sync: ${sig} received; finishing the blobs in flight, then stopping (send again to stop at once)\n`);
    controller.abort();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  main({ argv: process.argv.slice(2), env: process.env, stdout: process.stdout, stderr: process.stderr, signal: controller.signal })
    .then((code) => { process.exitCode = code; })
    .catch((e) => {
      process.stderr.write(`dr-sync: ${String(e?.message ?? e).replace(/([?&]sig=)[^&\s]+/gi, "$1[REDACTED]")}\n`);
      process.exitCode = EXIT_CODES.failed;
    });
}
