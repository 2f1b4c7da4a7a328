import { TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { StorageBlob as AzurermStorageBlob } from "@cdktf/provider-azurerm/lib/storage-blob";
import { StorageBlob as AzurestackStorageBlob } from "@cdktf/provider-azurestack/lib/storage-blob";
import { FENCE_BLOB, renderFence } from "../../runtime/src/state/fence";
import { SiteAccount } from "./site-account";

export interface SiteFenceProps {
  readonly account: SiteAccount;
  /** Whether applications use this site now. */
  readonly role: "active" | "passive";
  /** Container of the fence (and of the runtime's status records).
   *  @default "dr-sync-status" */
  readonly container?: string;
  /** Named in the runtime's message when it refuses to write into an active site.
   *  @default none */
  readonly environment?: string;
}

/**
 * The fence of one site: `dr-sync-status/fence.json`, saying whether the site is active. The runtime never
 * replicates into an active site, so a VM that comes back after a failover with its old direction cannot
 * overwrite the live data. Flipping `activeSite` and deploying rewrites both fences; during a disaster only the
 * target's needs to be written (see the runbook).
 */
export class SiteFence extends Construct {
  readonly resource: TerraformResource;

  constructor(scope: Construct, id: string, props: SiteFenceProps) {
    super(scope, id);
    const container = props.container ?? "dr-sync-status";
    const containerResource = props.account.addContainer(container);
    const Blob = props.account.site.cloud === "azurestack" ? AzurestackStorageBlob : AzurermStorageBlob;
    this.resource = new Blob(this, "Resource", {
      provider: props.account.site.provider,
      name: FENCE_BLOB,
      storageAccountName: props.account.accountName,
      storageContainerName: container,
      type: "Block",
      sourceContent: renderFence({ role: props.role, ...(props.environment ? { environment: props.environment } : {}) }),
      contentType: "application/json",
      dependsOn: [containerResource],
    });
  }
}
