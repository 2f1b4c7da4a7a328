/**
 * The shape of an environment file (`environments/<name>.json`): one source/target pair, deployed as one stack.
 * `validateEnvironment` checks a parsed file against it and fills in the defaults documented here.
 */

export type CloudName = "azure" | "azurestack";
export type SiteRole = "source" | "target";

/** One storage site: a storage account in one cloud. */
export interface SiteSpec {
  /** `azurestack`: an Azure Stack Hub stamp (provider azurestack). `azure`: public or sovereign Azure (provider azurerm). */
  readonly cloud: CloudName;
  /** A label for reports, logs and resource names.
   *  @default the role, "source" or "target" */
  readonly label?: string;
  /** Azure region, or the Stack Hub stamp's region name (e.g. "local", "east"). */
  readonly location: string;
  /** ARM endpoint of the Stack Hub stamp, e.g. "https://management.east.contoso.com". Required on `azurestack`. */
  readonly armEndpoint?: string;
  /** Azure cloud of an `azure` site: "public", "usgovernment", "china".
   *  @default "public" */
  readonly azureEnvironment?: string;
  /** DNS suffix of the storage endpoints: the blob endpoint is `https://<account>.blob.<suffix>/`.
   *  Required on `azurestack` (e.g. "east.contoso.com").
   *  @default "core.windows.net" on `azure` */
  readonly storageEndpointSuffix?: string;
  /** Subscription of the site.
   *  @default the provider's ARM_SUBSCRIPTION_ID */
  readonly subscriptionId?: string;
  /** Tenant (directory) of the site.
   *  @default the provider's ARM_TENANT_ID */
  readonly tenantId?: string;
  /** Where the provider's service principal secret comes from. `environment`: the ARM_* variables of the shell or
   *  pipeline. `variables`: sensitive Terraform variables `<role>_client_id` and `<role>_client_secret` (TF_VAR_...),
   *  needed when the two sites use different principals.
   *  @default "environment" */
  readonly auth?: "environment" | "variables";
  /** Resource group of the storage account. */
  readonly resourceGroup: string;
  /** Create the resource group, or use an existing one.
   *  @default true */
  readonly createResourceGroup?: boolean;
  /** Storage account name: 3-24 lowercase letters or digits, unique in the cloud. */
  readonly accountName: string;
  /** Adopt an existing account and its containers (read by name, never created or destroyed) instead of creating them.
   *  @default false */
  readonly adoptExisting?: boolean;
  /** How the replication SAS of this site is produced. `sign`: in the Terraform run (azurerm data source on `azure`;
   *  the shipped signing script on `azurestack`). `variable`: supplied by the operator as sensitive Terraform variables.
   *  @default "sign" */
  readonly sas?: "sign" | "variable";
  /** Signed version of the SAS tokens; one the site accepts.
   *  @default "2017-11-09" */
  readonly sasVersion?: string;
}

export interface VmSpec {
  /** @default "Standard_DS2_v2" (offered by Azure and Azure Stack Hub) */
  readonly size?: string;
  /** Size of the managed data disk that holds the staging folder and the runtime state, in GiB.
   *  @default 128 */
  readonly stagingDiskGb?: number;
  /** @default "azureuser" (not "dr-sync": that is the service user) */
  readonly adminUsername?: string;
  /** OpenSSH public key of the administrator (password login is off). */
  readonly sshPublicKey: string;
  /** CIDR allowed to reach SSH (port 22). `null`: no inbound at all.
   *  @default null */
  readonly sshSourceCidr?: string | null;
  /** Give the VM a public IP address.
   *  @default false */
  readonly publicIp?: boolean;
  /** Address space of the VM's virtual network, an IPv4 CIDR from /8 to /29; its first /27 (or all of it, when
   *  smaller) is the VM's subnet.
   *  @default "10.70.0.0/24" */
  readonly addressSpace?: string;
  /** Resource group of the VM and its network, apart from the data so it can be torn down alone.
   *  @default "<environment>-dr-vm" */
  readonly resourceGroup?: string;
  /** Marketplace image; on Stack Hub it must be downloaded to the stamp's marketplace first.
   *  @default Canonical 0001-com-ubuntu-server-jammy 22_04-lts latest */
  readonly image?: { readonly publisher: string; readonly offer: string; readonly sku: string; readonly version: string };
  /** Intermediaries that split the work, one shard each, each with its own staging disk: 1 to 27, and no more than
   *  the subnet of `addressSpace` holds.
   *  @default 1 */
  readonly instances?: number;
  /** With `instances` above 1: `"vms"` (N VMs, each with its index in its config) or `"scale-set"` (one scale set
   *  whose instances read their index from their computer name). See docs/infrastructure.md.
   *  @default "vms" */
  readonly scaleOut?: "scale-set" | "vms";
}

export interface CredentialsSpec {
  /** Days between planned SAS rotations.
   *  @default 30 */
  readonly rotationDays?: number;
  /** Days a SAS stays valid after its planned rotation, so a late deploy does not break replication.
   *  @default 7 */
  readonly graceDays?: number;
  /** Bump to rotate every SAS now, whatever the calendar says.
   *  @default 1 */
  readonly generation?: number;
}

export interface DnsSpec {
  /** Site whose cloud and subscription hold the DNS zone (its provider manages the record). */
  readonly zoneSite: SiteRole;
  readonly zoneName: string;
  readonly resourceGroup: string;
  /** Record name in the zone, e.g. "blobs". */
  readonly recordName: string;
  /** @default 60 */
  readonly ttl?: number;
}

export type BackendSpec =
  | { readonly type: "local"; readonly path?: string }
  | {
      readonly type: "azurerm";
      readonly resourceGroupName: string;
      readonly storageAccountName: string;
      readonly containerName: string;
      /** @default "<environment>.tfstate" */
      readonly key?: string;
      /** @default "public" */
      readonly environment?: string;
      /** Authenticate to the state account with Entra ID instead of its key.
       *  @default true */
      readonly useAzureadAuth?: boolean;
    };

/** An environment file, as written. */
export interface EnvironmentSpec {
  /** Stack name; output goes to `cdktf.out/stacks/<name>/`.
   *  @default the file name without `.json` */
  readonly name?: string;
  /** Site that serves applications now. Switching it to `target` and deploying declares a disaster; replication then
   *  runs target → source (failback).
   *  @default "source" */
  readonly activeSite?: SiteRole;
  readonly sites: { readonly source: SiteSpec; readonly target: SiteSpec };
  /** Containers to replicate. */
  readonly containers: readonly string[];
  /** systemd `OnCalendar=` expression of the runs.
   *  @default "*:0/15" (every 15 minutes) */
  readonly schedule?: string;
  /** Recovery point objective in minutes; `dr-sync status` reports against it. `null`: none.
   *  @default null */
  readonly rpoObjectiveMinutes?: number | null;
  /** Propagate deletions within the guards.
   *  @default true */
  readonly deleteDestination?: boolean;
  /** @default { maxDeletePercent: 50, maxDeleteCount: null } */
  readonly guards?: { readonly maxDeletePercent?: number; readonly maxDeleteCount?: number | null };
  readonly vm: VmSpec;
  /** @default { rotationDays: 30, graceDays: 7, generation: 1 } */
  readonly credentials?: CredentialsSpec;
  /** Protect storage accounts (and their resource groups) with `prevent_destroy`.
   *  @default true */
  readonly protectData?: boolean;
  /** Tags on every resource (merged over `{ environment: <name>, "managed-by": "stackhub-dr" }`).
   *  @default {} */
  readonly tags?: Readonly<Record<string, string>>;
  /** @default { type: "local" } */
  readonly backend?: BackendSpec;
  /** Stable CNAME that points at the active site's blob host.
   *  @default none */
  readonly dns?: DnsSpec;
  /** Containers the shards split by top-level prefix instead of taking whole (needs `vm.instances` above 1).
   *  @default [] */
  readonly shardSplit?: readonly string[];
}

type Filled<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

export interface ResolvedSite extends Filled<Omit<SiteSpec, "armEndpoint" | "subscriptionId" | "tenantId">> {
  readonly role: SiteRole;
  readonly armEndpoint?: string;
  readonly subscriptionId?: string;
  readonly tenantId?: string;
}

/** An environment with every default filled in. */
export interface ResolvedEnvironment {
  readonly name: string;
  readonly activeSite: SiteRole;
  readonly sites: { readonly source: ResolvedSite; readonly target: ResolvedSite };
  readonly containers: readonly string[];
  readonly schedule: string;
  readonly rpoObjectiveMinutes: number | null;
  readonly deleteDestination: boolean;
  readonly guards: { readonly maxDeletePercent: number; readonly maxDeleteCount: number | null };
  readonly vm: Filled<Omit<VmSpec, "sshSourceCidr">> & { readonly sshSourceCidr: string | null };
  readonly credentials: Filled<CredentialsSpec>;
  readonly protectData: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly backend: BackendSpec;
  readonly dns?: Filled<DnsSpec>;
  readonly shardSplit: readonly string[];
}

export const ENVIRONMENT_DEFAULTS = {
  activeSite: "source",
  schedule: "*:0/15",
  rpoObjectiveMinutes: null,
  deleteDestination: true,
  guards: { maxDeletePercent: 50, maxDeleteCount: null },
  vm: {
    size: "Standard_DS2_v2",
    stagingDiskGb: 128,
    adminUsername: "azureuser",
    sshSourceCidr: null,
    publicIp: false,
    addressSpace: "10.70.0.0/24",
    image: { publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "latest" },
    instances: 1,
    scaleOut: "vms",
  },
  credentials: { rotationDays: 30, graceDays: 7, generation: 1 },
  protectData: true,
  azureEnvironment: "public",
  azureStorageEndpointSuffix: "core.windows.net",
  auth: "environment",
  sas: "sign",
  sasVersion: "2017-11-09",
  dnsTtl: 60,
} as const;
