import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeEndpoint, DrSyncConfig, validateConfig } from "../../runtime/src/config/schema";
import { formatBytes } from "../../runtime/src/report/progress";
import { Redactor } from "../../runtime/src/report/redact";
import { RunStatus } from "../../runtime/src/state/status";
import { VerifyDocument } from "../../runtime/src/report/verify-output";
import { repoRoot } from "../../lib/paths";
import { SiteRole } from "../../lib/environment/schema";
import { LocalSite, LocalSites, startLocalSites } from "../azurite/local-sites";
import { Application } from "./application";
import { ApplicationLoop, ApplicationReport } from "./app-loop";
import { localizeConfig } from "./local-config";
import { DrillOptions } from "./options";
import { renderEnvironment, RenderedEnvironment } from "./render-environment";
import { FENCED_EXIT_CODE } from "../../runtime/src/state/fence";
import { CycleReport, DrillReport, RetainedReport } from "./report";
import { RuntimeProcess } from "./runtime-process";
import {
  applyChanges, flatten, initialSamples, KnownBlob, orderBlob, outageWrites, pickKnown, planChanges, SampleSet, sha256,
} from "./sample-data";
import { compareSites, ensureContainers, expectedSite, forEachParallel, measure, putBlob, readSite, siteClient } from "./site-data";
import { SiteGateway } from "./site-gateway";
import { MISS_JOURNAL_PREFIX } from "../../client";
import { describeError } from "../../runtime/src/storage/errors";
import { DrillStepError, StepRunner } from "./steps";

/** One local stand-in for a site of the environment: its account in Azurite, behind its own gateway. */
interface StandIn {
  readonly role: SiteRole;
  readonly label: string;
  /** The site's endpoint in the cloud, as the stack renders it. */
  readonly cloudEndpoint: string;
  readonly site: LocalSite;
  readonly gateway: SiteGateway;
  /** The endpoint through the gateway. */
  readonly local: string;
}

interface Deployed {
  readonly rendered: RenderedEnvironment;
  readonly config: DrSyncConfig;
  readonly reading: StandIn;
  readonly writing: StandIn;
  readonly active: StandIn;
  /** The SAS variables the VM's SAS file would hold: read+list on the reading side, write on the writing side. */
  readonly sas: Record<string, string>;
}

interface RetainedCopyJson {
  readonly site: string;
  readonly container: string;
  readonly name: string;
  readonly reason: string;
  readonly retainedAt: string;
  readonly size: number;
  /** Absent for a version kept at the target (in its versions container). */
  readonly dataPath?: string;
}

const PRE_DISASTER_BLOB = "incoming/pre-disaster-order.json";
/** How long the drill's application uses a decision about the active site (the client's default is 30 s). */
const APP_RECHECK_MS = 1000;

/**
 * The whole disaster-recovery cycle on this machine: render the environment's runtime config through the
 * constructs, seed the source, replicate and verify in cycles, lose the source, fail over by re-rendering with
 * `activeSite: "target"`, fail back, switch back, and show that nothing was lost. Returns the report; a failed step
 * is in the report (`ok: false`, `failedStep`), never thrown. Everything it starts or writes is gone when it returns.
 */
export async function runDrill(opts: DrillOptions, print: (line: string) => void, signal: AbortSignal = new AbortController().signal): Promise<DrillReport> {
  const started = Date.now();
  // The SAS tokens live in URLs; an error that quotes one must not print it.
  const redactor = new Redactor();
  const log = (line: string) => print(redactor.redact(line));
  const steps = new StepRunner(log, signal);
  const root = repoRoot(__dirname);
  const environmentFile = opts.environmentFile ?? join(root, "environments", "example.json");
  const bundle = join(root, "runtime", "dist", "dr-sync.js");
  const workDir = mkdtempSync(join(tmpdir(), "drsync-drill-"));
  const configFile = join(workDir, "dr-sync.json");
  const runtime = new RuntimeProcess({
    bundle, tty: opts.tty, signal,
    onEvent: (e) => { if (e.level === "warn" || e.level === "error") log(`     dr-sync ${e.level}: ${e.msg}`); },
  });

  const report: { -readonly [K in keyof DrillReport]: DrillReport[K] } = { ok: false, containers: [], cycles: [], steps: steps.records, totalSeconds: 0 };
  const cycles: CycleReport[] = [];
  report.cycles = cycles;
  let sites: LocalSites | undefined;
  const gateways: SiteGateway[] = [];
  let app: ApplicationLoop | undefined;

  try {
    const first = await steps.run("render the environment through the constructs", () => {
      if (!existsSync(bundle)) throw new Error(`${bundle} is missing; run \`npm run build\` first`);
      const r = renderEnvironment(environmentFile, "source", workDir);
      log(`   environment "${r.name}": replication ${r.replication}, containers ${r.runtimeConfig.containers.join(", ")}`);
      log(`   the VM's timer: OnCalendar=${r.schedule} (the drill runs its cycles back-to-back instead)`);
      if (r.nodeBinaryPlaceholder) log(`   a placeholder stood in for the Node.js binary the stack ships (${r.nodeBinaryPlaceholder}); the drill deploys nothing`);
      report.environment = r.name;
      report.schedule = r.schedule;
      report.containers = r.runtimeConfig.containers;
      return r;
    });

    const standIns = await steps.run("start the two local sites (Azurite, loopback)", async () => {
      // Azurite keeps its data in the drill's folder, so one removal leaves nothing behind.
      sites = await startLocalSites({ dataDir: join(workDir, "azurite") });
      const make = async (role: SiteRole, site: LocalSite): Promise<StandIn> => {
        const gateway = await SiteGateway.start(() => sites!.port);
        gateways.push(gateway);
        const cfg = first.runtimeConfig[role];
        return { role, label: cfg.name ?? role, cloudEndpoint: normalizeEndpoint(first.endpoints[role]), site, gateway, local: `http://127.0.0.1:${gateway.port}/${site.account}/` };
      };
      const s = { source: await make("source", sites.source), target: await make("target", sites.target) };
      for (const x of [s.source, s.target]) log(`   ${x.role} ${x.label}: ${x.cloudEndpoint} served here at ${x.local}`);
      report.sites = {
        source: { label: s.source.label, endpoint: s.source.cloudEndpoint, local: s.source.local },
        target: { label: s.target.label, endpoint: s.target.cloudEndpoint, local: s.target.local },
      };
      return s;
    });

    const endpointMap = new Map([standIns.source, standIns.target].map((s) => [s.cloudEndpoint, s.local]));
    const byLocal = (endpoint: string): StandIn => (normalizeEndpoint(endpoint) === standIns.source.local ? standIns.source : standIns.target);
    const client = (s: StandIn, maxTries = 3) => siteClient(s.local, s.site.sas("rwdlac"), s.label, maxTries);
    // The VM's config file is rewritten by each deploy; so is the drill's. The deploy also writes each reachable
    // site's fence, as the apply does (during the disaster only the target's: the runbook's targeted apply).
    const deploy = async (rendered: RenderedEnvironment, reachable: readonly SiteRole[] = ["source", "target"]): Promise<Deployed> => {
      for (const role of reachable) {
        const f = rendered.fences[role];
        const s = role === "source" ? standIns.source : standIns.target;
        await s.site.container(f.container).createIfNotExists();
        await s.site.container(f.container).getBlockBlobClient(f.name).upload(f.content, Buffer.byteLength(f.content), { blobHTTPHeaders: { blobContentType: "application/json" } });
      }
      const config = localizeConfig(rendered.runtimeConfig, endpointMap, workDir);
      writeFileSync(configFile, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
      const reading = byLocal(config.source.blobEndpoint);
      const writing = byLocal(config.target.blobEndpoint);
      const active = rendered.endpoints.active === standIns.source.cloudEndpoint ? standIns.source : standIns.target;
      return {
        rendered, config, reading, writing, active,
        sas: { [config.source.sasEnv]: reading.site.sas("rl"), [config.target.sasEnv]: writing.site.sas("rwdlac") },
      };
    };
    const application = (d: Deployed) => new Application(client(d.active), d.active.local);

    let current = await deploy(first);
    const containers = current.config.containers;
    // The application with the failover-aware client (stackhub-dr/client): configured once with both sites, as the
    // stack outputs give them, and never restarted or reconfigured. Its first container is synchronous.
    app = await ApplicationLoop.start({
      source: { label: standIns.source.label, account: standIns.source.site.account, sas: standIns.source.site.sas("rwdlac"), port: () => standIns.source.gateway.port },
      target: { label: standIns.target.label, account: standIns.target.site.account, sas: standIns.target.site.sas("rwdlac"), port: () => standIns.target.gateway.port },
    }, containers[0], containers[1] ?? containers[0], APP_RECHECK_MS);
    const appReport: { -readonly [K in keyof ApplicationReport]: ApplicationReport[K] } = {
      recheckAfterMs: APP_RECHECK_MS, synchronousContainer: app.syncContainer, otherContainer: app.otherContainer, mode: "best-effort", phases: app.phases,
    };
    report.application = appReport;
    const loop = app;
    const guards = validateConfig(current.config).guards;
    // The expectation: what the active site holds, blob by blob.
    const model: SampleSet = await steps.run("fill the source with sample data", async () => {
      const set = initialSamples(containers, opts.blobsPerContainer, opts.largeBlobsMiB, opts.seed);
      const src = client(standIns.source);
      await ensureContainers(src, containers);
      await forEachParallel([...flatten(set)], (k) => putBlob(src, k.container, k.blob));
      const view = measure(expectedSite(set));
      report.seeded = { blobs: view.blobs, bytes: view.bytes, largeBlobs: opts.largeBlobsMiB.map((m) => Math.max(1, Math.round(m * 1024 * 1024))) };
      log(`   ${view.blobs} blobs, ${formatBytes(view.bytes)} in ${containers.length} containers, ${view.contentTypes} content types, metadata on every blob`);
      return set;
    });

    const replicate = async (label: string, changes: CycleReport["changes"]): Promise<CycleReport> => {
      const d = current;
      const direction = `${d.reading.label} -> ${d.writing.label}`;
      const t0 = Date.now();
      const run = await steps.run(`${label}: replicate ${direction} (dr-sync run)`, async () => {
        const { value } = await runtime.json<RunStatus>(["run"], configFile, d.sas);
        log(`   ${value.totals.copied} copied, ${value.totals.deleted} deleted, ${formatBytes(value.totals.bytes)} moved; ` +
          `recovery point ${value.recoveryPoint}, RPO achieved ${value.rpoAchievedSeconds} s`);
        return value;
      });
      const runSeconds = (Date.now() - t0) / 1000;
      return steps.run(`${label}: verify ${direction}`, async () => {
        const { value: v } = await runtime.json<VerifyDocument>(["verify"], configFile, d.sas);
        const [reading, writing] = await Promise.all([readSite(client(d.reading), containers), readSite(client(d.writing), containers)]);
        const differences = [...compareSites(reading, writing), ...compareSites(expectedSite(model), reading).map((p) => `reading site vs expected: ${p}`)];
        if (differences.length) throw new Error(`the sites differ after the run:\n  ${differences.slice(0, 20).join("\n  ")}`);
        const m = measure(writing);
        const compared = v.containers.reduce((s, c) => s + c.compared, 0);
        log(`   dr-sync verify: ${compared} blobs compared, no differences; the drill's own read of both sites: ${m.blobs} blobs equal`);
        const sum = (k: "adopted" | "retainedFromDestination") => run.containers.reduce((s, c) => s + (c.push?.[k] ?? 0), 0);
        return {
          label, direction, changes, copied: run.totals.copied, adopted: sum("adopted"), deleted: run.totals.deleted, bytes: run.totals.bytes,
          retainedFromDestination: sum("retainedFromDestination"), recoveryPoint: run.recoveryPoint, rpoSeconds: run.rpoAchievedSeconds, runSeconds,
          verify: { ok: v.ok, compared, differences: v.differenceCount },
          fidelity: { ...m, differences: 0 },
        };
      });
    };

    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      let changes = { written: measure(expectedSite(model)).blobs, deleted: 0 };
      if (cycle > 1) {
        changes = await steps.run(`cycle ${cycle}: the application changes the source`, async () => {
          const planned = planChanges(model, cycle, guards, opts.seed);
          const src = client(standIns.source);
          await forEachParallel(planned.puts, (p) => putBlob(src, p.container, p.blob));
          await forEachParallel(planned.deletes, (x) => src.blob(x.container, x.name).delete().then(() => undefined));
          applyChanges(model, planned);
          log(`   ${planned.puts.length} blobs written (new and rewritten), ${planned.deletes.length} deleted (within the delete guard, ${guards.maxDeletePercent}%)`);
          return { written: planned.puts.length, deleted: planned.deletes.length };
        });
      }
      cycles.push(await replicate(`cycle ${cycle}`, changes));
    }

    const unreplicated: KnownBlob = { container: containers[0], blob: orderBlob(PRE_DISASTER_BLOB, "written at the source after the last replication") };
    await steps.run("write a blob at the source that no run will replicate", async () => {
      await putBlob(client(standIns.source), unreplicated.container, unreplicated.blob);
      log(`   ${unreplicated.container}/${unreplicated.blob.name}: only the source has it when the disaster strikes`);
    });

    const lastWrites = await steps.run("application (failover-aware client): writes and reads, then its last writes before the disaster", async () => {
      const { written, report: r } = await loop.phase("normal", { iterations: 3, passive: "target", other: false });
      applyChanges(model, { puts: written, deletes: [] });
      const last = await loop.phase("last writes", { iterations: 1, passive: "target" });
      // The synchronous container's write is at both sites; the other's waits for a cycle that never comes.
      const sync = last.written.find((k) => k.container === loop.syncContainer)!;
      const other = last.written.find((k) => k.container === loop.otherContainer && loop.otherContainer !== loop.syncContainer);
      applyChanges(model, { puts: [sync], deletes: [] });
      log(`   ${r.ok} iterations at ${r.activeSite}, ${r.requests.source} requests to the source, ${r.requests.target} to the target (mirrored writes to ${loop.syncContainer} only)`);
      return { sync, other, at: Date.now() };
    });
    const lost = Date.now();
    const lastRecoveryPoint = cycles[cycles.length - 1].recoveryPoint;
    await steps.run("disaster: the source site goes down", async () => {
      await standIns.source.gateway.close();
      // Kept-alive client connections learn of the cut a moment later; a probe before that only sees a reset.
      await new Promise((r) => setTimeout(r, 250));
      const why = await new Application(client(standIns.source, 1), standIns.source.local).unreachable(containers[0]);
      if (!why) throw new Error("the source still answers after its gateway was closed");
      log(`   the source no longer answers: ${why}`);
      report.disaster = {
        unreachable: why, lastRecoveryPoint,
        unreplicated: { container: unreplicated.container, name: unreplicated.blob.name, size: unreplicated.blob.body.length },
        unreplicatedAtTarget: false,
      };
    });

    const outageLanded = await steps.run("application: the source is down and no failover is declared: requests fail, only mirrors reach the target", async () => {
      const { failedWrites, report: r } = await loop.phase("outage, no failover declared", { iterations: 2, passive: "target", expectFailure: true });
      log(`   ${r.failed} of ${r.iterations} iterations failed (${r.errors[0] ?? "?"}); the client stays with ${r.activeSite}: no fence names another active site`);
      // A failed call is indeterminate, as with any storage call: the synchronous container's copy, sent in parallel,
      // reached the target. The expectation follows what the target (soon the active site) holds.
      const landed: KnownBlob[] = [];
      for (const k of failedWrites) if (await siteHas(client(standIns.target), k)) landed.push(k);
      applyChanges(model, { puts: landed, deletes: [] });
      if (landed.length) log(`   ${landed.length} of the failed writes reached the target through the synchronous mirror (a failed call may have landed; repeat it)`);
      return landed.length;
    });

    const known = (): KnownBlob[] => pickKnown(model);
    const forward = current;
    const failoverApp = await steps.run("failover: set activeSite to target and render again", async () => {
      current = await deploy(renderEnvironment(environmentFile, "target", workDir), ["target"]);
      if (current.active !== standIns.target || current.reading !== standIns.target) {
        throw new Error(`with activeSite=target the stack should make applications and replication read the target; it renders active ${current.active.role}, reading ${current.reading.role}`);
      }
      log(`   active_blob_endpoint: ${current.rendered.endpoints.active}; replication ${current.rendered.replication} (reads ${current.reading.label}, writes ${current.writing.label})`);
      return application(current);
    });
    const failoverDeployed = Date.now();
    const failoverAppWrites = await steps.run("application: follows the target's fence, no restart, no config edit", async () => {
      await loop.waitForRecheck();
      const { written, report: r } = await loop.phase("failover", { iterations: 3, passive: "source" });
      applyChanges(model, { puts: written, deletes: [] });
      appReport.secondsToSwitch = (Date.now() - failoverDeployed) / 1000;
      const syncAtTarget = !(await loop.readBack(lastWrites.sync).catch((err) => describeError(err)));
      const otherAtTarget = lastWrites.other ? await siteHas(client(standIns.target), lastWrites.other) : false;
      appReport.lastWrites = {
        synchronous: { name: `${lastWrites.sync.container}/${lastWrites.sync.blob.name}`, atTarget: syncAtTarget, secondsBeforeDisaster: (lost - lastWrites.at) / 1000 },
        other: { name: lastWrites.other ? `${lastWrites.other.container}/${lastWrites.other.blob.name}` : "-", atTarget: otherAtTarget },
      };
      if (!syncAtTarget) throw new Error(`${appReport.lastWrites.synchronous.name}, written to the synchronous container before the disaster, is not at the target as written`);
      if (otherAtTarget) throw new Error(`${appReport.lastWrites.other.name} is at the target although no run replicated it`);
      log(`   ${r.ok} iterations at ${r.activeSite} (best effort: the source's copies journaled as misses); ${appReport.lastWrites.synchronous.name} is at the target as written (RPO 0), ` +
        `${appReport.lastWrites.other.name} is not (scheduled sync only)`);
      return written.length;
    });
    const read = await steps.run("failover: the application reads its data from the target", async () => {
      const blobs = known();
      const problems = await failoverApp.check(blobs);
      if (problems.length) throw new Error(`the target does not serve the replicated data:\n  ${problems.join("\n  ")}`);
      const atTarget = await failoverApp.has(unreplicated.container, unreplicated.blob.name);
      report.disaster = { ...report.disaster!, unreplicatedAtTarget: atTarget };
      if (atTarget) throw new Error(`${unreplicated.container}/${unreplicated.blob.name} is at the target although no run replicated it`);
      log(`   ${blobs.length} known blobs read from ${failoverApp.endpoint}: bytes, properties and metadata as written`);
      return blobs.length;
    });
    const secondsToFailover = (Date.now() - lost) / 1000;
    const written = await steps.run("failover: the application writes to the target while the source is down", async () => {
      const writes = outageWrites(model);
      for (const w of writes) await failoverApp.write(w);
      applyChanges(model, { puts: writes, deletes: [] });
      log(`   ${writes.length} blobs written at the target (new orders, one rewritten)`);
      return writes.length;
    });
    report.failover = {
      activeEndpoint: current.rendered.endpoints.active, replication: current.rendered.replication,
      secondsToFailover, blobsRead: read, blobsWritten: written,
    };

    await steps.run("failback: the source site comes back", async () => {
      await standIns.source.gateway.open();
      const why = await new Application(client(standIns.source, 1), standIns.source.local).unreachable(containers[0]);
      if (why) throw new Error(`the source does not answer after its gateway was opened again: ${why}`);
      log(`   the source answers again at ${standIns.source.local}`);
    });
    await steps.run("application: the returning source's stale fence still says active: split brain, refused", async () => {
      await loop.waitForRecheck();
      const { report: r } = await loop.phase("split brain", { iterations: 1, passive: "source", expectFailure: true, other: false });
      if (!r.errors.some((e) => e.startsWith("SplitBrainError"))) throw new Error(`expected a split-brain error, got: ${r.errors.join("; ")}`);
      log(`   ${r.errors[0]}`);
    });
    await steps.run("failback: the VM returns with its old direction and is refused by the target's fence", async () => {
      const staleConfig = join(workDir, "stale-dr-sync.json");
      writeFileSync(staleConfig, JSON.stringify(forward.config, null, 2) + "\n", { mode: 0o600 });
      const before = await readSite(client(standIns.target), containers);
      const { code, value } = await runtime.json<RunStatus>(["run"], staleConfig, forward.sas, [FENCED_EXIT_CODE]);
      const problems = compareSites(before, await readSite(client(standIns.target), containers));
      if (problems.length) throw new Error(`the stale run changed the live target:\n  ${problems.slice(0, 10).join("\n  ")}`);
      log(`   dr-sync run (source -> target, as before the disaster) exited ${code}: ${value.error}`);
      report.fenced = { exitCode: code, message: value.error ?? "" };
    });
    // The full apply once the source answers again: both fences and the failback direction.
    current = await deploy(current.rendered);
    const failbackAppWrites = await steps.run("application: both fences deployed, the target serves it again", async () => {
      await loop.waitForRecheck();
      const { written, report: r } = await loop.phase("failback", { iterations: 3, passive: "source" });
      applyChanges(model, { puts: written, deletes: [] });
      log(`   ${r.ok} iterations at ${r.activeSite}; the source got ${r.requests.source} requests (mirrored writes to ${loop.syncContainer})`);
      return written.length;
    });
    const failbackStart = new Date().toISOString();
    cycles.push(await replicate("failback", { written: written + outageLanded + failoverAppWrites + failbackAppWrites, deleted: 0 }));

    const retained = await steps.run("failback: nothing lost (dr-sync retention list)", async () => {
      const { value: all } = await runtime.json<RetainedCopyJson[]>(["retention", "list"], configFile, current.sas);
      // Copies are dated by the storage service's clock, which this machine knows to within a second.
      const fromFailback = all.filter((c) => Date.parse(c.retainedAt) >= Date.parse(failbackStart) - 2000);
      // The copy on the VM's disk (the list also names the target's own versions, which have no local file).
      const kept = fromFailback.find((c) => c.container === unreplicated.container && c.name === unreplicated.blob.name && c.dataPath);
      if (!kept) {
        throw new Error(`${unreplicated.container}/${unreplicated.blob.name}, which only the old source held, is not in the retention area ` +
          `(it lists ${fromFailback.map((c) => `${c.container}/${c.name}`).join(", ") || "nothing"} since the failback)`);
      }
      if (sha256(readFileSync(kept.dataPath as string)) !== sha256(unreplicated.blob.body)) throw new Error(`the retained copy of ${kept.name} differs from what was written`);
      log(`   ${kept.container}/${kept.name} kept byte for byte (${kept.reason}); ${fromFailback.length} cop${fromFailback.length === 1 ? "y" : "ies"} retained by the failback in all`);
      return fromFailback.map((c): RetainedReport => ({ container: c.container, name: c.name, reason: c.reason, size: c.size, site: c.site }));
    });

    const readBack = await steps.run("switch back: set activeSite to source and render again", async () => {
      current = await deploy(renderEnvironment(environmentFile, "source", workDir));
      if (current.active !== standIns.source || current.reading !== standIns.source) {
        throw new Error(`with activeSite=source the stack should make applications and replication read the source; it renders active ${current.active.role}, reading ${current.reading.role}`);
      }
      const blobs = known();
      const problems = await application(current).check(blobs);
      if (problems.length) throw new Error(`the source does not serve the data after failback:\n  ${problems.join("\n  ")}`);
      log(`   replication ${current.rendered.replication}; ${blobs.length} known blobs (outage writes included) read from the source`);
      return blobs.length;
    });
    const switchBackWrites = await steps.run("application: follows the switch back to the source", async () => {
      await loop.waitForRecheck();
      const { written, report: r } = await loop.phase("switch back", { iterations: 3, passive: "target" });
      applyChanges(model, { puts: written, deletes: [] });
      appReport.journaledMisses = await countMisses(standIns.target.site);
      log(`   ${r.ok} iterations at ${r.activeSite}; the target got ${r.requests.target} requests (mirrored writes to ${loop.syncContainer}); ` +
        `${appReport.journaledMisses} misses journaled at the target during the outage`);
      return written.length;
    });
    cycles.push(await replicate("switch back", { written: switchBackWrites, deleted: 0 }));

    report.failback = { retained, unreplicatedKept: true, blobsReadAfterSwitchBack: readBack };
    report.ok = true;
  } catch (err) {
    report.failedStep = err instanceof DrillStepError ? err.step : "drill";
    report.error = redactor.redact(err instanceof DrillStepError && err.cause instanceof Error ? err.cause.message : (err as Error).message);
  } finally {
    await app?.stop().catch(() => undefined);
    for (const g of gateways) await g.close().catch(() => undefined);
    await sites?.stop().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
    report.totalSeconds = (Date.now() - started) / 1000;
  }
  return report;
}

/** Whether a site holds a blob, read with the site's own client (not the application's). */
async function siteHas(site: ReturnType<typeof siteClient>, k: KnownBlob): Promise<boolean> {
  return site.blob(k.container, k.blob.name).exists();
}

/** Lines of the dual-write miss journal at a site (`dr-sync-status/dual-write-misses/*.jsonl`). */
async function countMisses(site: LocalSite): Promise<number> {
  const journal = site.container("dr-sync-status");
  let lines = 0;
  for await (const b of journal.listBlobsFlat({ prefix: MISS_JOURNAL_PREFIX })) {
    lines += (await journal.getBlobClient(b.name).downloadToBuffer()).toString("utf8").split("\n").filter(Boolean).length;
  }
  return lines;
}
