import { TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { DataAzurermStorageAccount } from "@cdktf/provider-azurerm/lib/data-azurerm-storage-account";
import { ResourceGroup as AzurermResourceGroup } from "@cdktf/provider-azurerm/lib/resource-group";
import { StorageAccount as AzurermStorageAccount } from "@cdktf/provider-azurerm/lib/storage-account";
import { StorageContainer as AzurermStorageContainer } from "@cdktf/provider-azurerm/lib/storage-container";
import { DataAzurestackStorageAccount } from "@cdktf/provider-azurestack/lib/data-azurestack-storage-account";
import { ResourceGroup as AzurestackResourceGroup } from "@cdktf/provider-azurestack/lib/resource-group";
import { StorageAccount as AzurestackStorageAccount } from "@cdktf/provider-azurestack/lib/storage-account";
import { StorageContainer as AzurestackStorageContainer } from "@cdktf/provider-azurestack/lib/storage-container";
import { SiteCloud } from "../cloud/site-provider";
import { PropProblems, RULES, show } from "../validation/prop-rules";

export interface SiteAccountProps {
  /** The site's cloud and provider. */
  readonly site: SiteCloud;
  /** 3-24 lowercase letters or digits. */
  readonly accountName: string;
  readonly resourceGroupName: string;
  readonly location: string;
  /** DNS suffix of the site's storage endpoints; the blob endpoint is `https://<account>.blob.<suffix>/`. Known at
   *  synth, so the runtime's config is rendered (and validated) at synth; a postcondition checks it at apply. */
  readonly storageEndpointSuffix: string;
  /** Create the resource group (otherwise it must exist).
   *  @default true */
  readonly createResourceGroup?: boolean;
  /** Read an existing account by name instead of creating it; its containers are then never created or destroyed.
   *  @default false */
  readonly adoptExisting?: boolean;
  /** Containers created with the account (ignored when adopting: they hold data that is not ours to manage).
   *  @default [] */
  readonly containers?: readonly string[];
  /** `prevent_destroy` on the account and the resource group it creates: the data outlives a casual `destroy`.
   *  @default true */
  readonly preventDestroy?: boolean;
  /** Account replication.
   *  @default "LRS" (the only kind Azure Stack Hub offers) */
  readonly replicationType?: string;
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * A storage site's account and its private containers, created or adopted.
 *
 * Secure by default where the cloud allows it. On `azure`: HTTPS only, TLS 1.2 minimum, no public blob access,
 * shared keys kept on because SAS tokens are signed with them. On `azurestack` (provider azurestack 1.x, account kind
 * `Storage`): HTTPS only; the provider has no minimum-TLS or public-access setting, so TLS 1.2 comes from the
 * stamp's TLS policy (the operator's `Set-TLSPolicy -Version TLS_1.2`), and public access is prevented by creating
 * every container `private`.
 */
/** The checks of `SiteAccountProps`, also applied to each site of an environment file. */
export function checkSiteAccountProps(props: Partial<SiteAccountProps> & { readonly site?: { readonly cloud: string } }, problems: PropProblems): void {
  problems.check("accountName", props.accountName, RULES.accountName);
  problems.check("storageEndpointSuffix", props.storageEndpointSuffix, RULES.storageEndpointSuffix);
  problems.check("resourceGroupName", props.resourceGroupName, RULES.resourceGroupName);
  problems.check("location", props.location, RULES.location);
  (props.containers ?? []).forEach((c, i) => problems.check(`containers[${i}]`, c, RULES.containerName));
  if (props.replicationType && props.site?.cloud === "azurestack" && props.replicationType !== "LRS") {
    problems.add(`replicationType must be "LRS" on azurestack (got ${show(props.replicationType)})`);
  }
}

export class SiteAccount extends Construct {
  readonly site: SiteCloud;
  readonly accountName: string;
  /** `https://<account>.blob.<suffix>/`, known at synth. */
  readonly blobEndpoint: string;
  /** `<account>.blob.<suffix>`. */
  readonly blobHost: string;
  /** Key the SAS tokens are signed with (sensitive). */
  readonly primaryAccessKey: string;
  /** Connection string with the key (sensitive). */
  readonly connectionString: string;
  /** ARM id of the account. */
  readonly accountId: string;
  /** The account resource, or the data source of an adopted one. */
  readonly resource: TerraformResource | DataAzurermStorageAccount | DataAzurestackStorageAccount;
  private readonly tags: Record<string, string>;

  constructor(scope: Construct, id: string, props: SiteAccountProps) {
    super(scope, id);
    const problems = new PropProblems();
    checkSiteAccountProps(props, problems);
    problems.throwIfAny(`SiteAccount ${this.node.path}`);

    this.site = props.site;
    this.accountName = props.accountName;
    this.blobHost = `${props.accountName}.blob.${props.storageEndpointSuffix}`;
    this.blobEndpoint = `https://${this.blobHost}/`;
    this.tags = { ...(props.tags ?? {}) };
    const provider = props.site.provider;
    const preventDestroy = props.preventDestroy ?? true;
    const stack = props.site.cloud === "azurestack";
    // A suffix that does not match the cloud would point the runtime at another host: fail the apply instead.
    const endpointCheck = [{
      condition: `\${self.primary_blob_endpoint == "${this.blobEndpoint}"}`,
      errorMessage: `The blob endpoint of ${props.accountName} is not ${this.blobEndpoint}; fix storageEndpointSuffix.`,
    }];

    if (props.createResourceGroup ?? true) {
      const Rg = stack ? AzurestackResourceGroup : AzurermResourceGroup;
      new Rg(this, "ResourceGroup", {
        provider, name: props.resourceGroupName, location: props.location, tags: this.tags,
        lifecycle: { preventDestroy },
      });
    }
    const rgName = props.createResourceGroup ?? true
      ? (this.node.findChild("ResourceGroup") as AzurermResourceGroup).name
      : props.resourceGroupName;

    if (props.adoptExisting) {
      const Data = stack ? DataAzurestackStorageAccount : DataAzurermStorageAccount;
      const data = new Data(this, "Resource", {
        provider, name: props.accountName, resourceGroupName: rgName, lifecycle: { postcondition: endpointCheck },
      });
      this.resource = data;
      this.primaryAccessKey = data.primaryAccessKey;
      this.connectionString = data.primaryConnectionString;
      this.accountId = data.id;
    } else {
      const common = {
        provider, name: props.accountName, resourceGroupName: rgName, location: props.location,
        accountTier: "Standard", accountReplicationType: props.replicationType ?? "LRS", tags: this.tags,
        lifecycle: { preventDestroy, postcondition: endpointCheck },
      };
      const account = stack
        ? new AzurestackStorageAccount(this, "Resource", { ...common, accountKind: "Storage", enableHttpsTrafficOnly: true })
        : new AzurermStorageAccount(this, "Resource", {
            ...common,
            accountKind: "StorageV2",
            httpsTrafficOnlyEnabled: true,
            minTlsVersion: "TLS1_2",
            allowNestedItemsToBePublic: false,
            // SAS tokens are signed with the account key.
            sharedAccessKeyEnabled: true,
            crossTenantReplicationEnabled: false,
          });
      this.resource = account;
      this.primaryAccessKey = account.primaryAccessKey;
      this.connectionString = account.primaryConnectionString;
      this.accountId = account.id;
      for (const c of props.containers ?? []) this.addContainer(c, preventDestroy);
    }
  }

  /**
   * Creates a private container in this account (also in an adopted one: for the tool's own containers).
   * @param preventDestroy `prevent_destroy`, for containers that hold data (a targeted destroy would empty them)
   */
  addContainer(name: string, preventDestroy = false): TerraformResource {
    const id = `Container-${name}`;
    const existing = this.node.tryFindChild(id) as TerraformResource | undefined;
    if (existing) return existing;
    return this.site.cloud === "azurestack"
      ? new AzurestackStorageContainer(this, id, {
          provider: this.site.provider, name, storageAccountName: this.accountName, containerAccessType: "private",
          dependsOn: this.resource instanceof TerraformResource ? [this.resource] : undefined,
          lifecycle: { preventDestroy },
        })
      : new AzurermStorageContainer(this, id, {
          provider: this.site.provider, name, storageAccountId: this.accountId, containerAccessType: "private",
          lifecycle: { preventDestroy },
        });
  }
}
