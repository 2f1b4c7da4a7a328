import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { LinuxVirtualMachineScaleSet as AzScaleSet } from "@cdktf/provider-azurerm/lib/linux-virtual-machine-scale-set";
import { LinuxVirtualMachineScaleSet as AsScaleSet } from "@cdktf/provider-azurestack/lib/linux-virtual-machine-scale-set";
import { SiteCloud } from "../cloud/site-provider";
import { scaleSetComputerName } from "./shard-plan";
import type { VmImage } from "./intermediary-vm";
import { settingsExtension } from "./settings-extension";

export interface IntermediaryScaleSetProps {
  readonly site: SiteCloud;
  readonly location: string;
  readonly resourceGroupName: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly subnetId: string;
  /** The scale set's name; it carries the instance count, so a change of count replaces the set (see below). */
  readonly name: string;
  /** Computer names are this and the instance ID in base 36, 6 characters: what the runtime reads its index from. */
  readonly computerNamePrefix: string;
  readonly instances: number;
  /** The settings script of every instance (its config has `shard.indexFrom: "hostname"`). */
  readonly settingsScript: string;
  readonly size: string;
  readonly adminUsername: string;
  readonly sshPublicKey: string;
  readonly diskType: string;
  readonly image: VmImage;
  readonly customData: string;
  readonly lun: number;
  readonly diskGb: number;
}

/**
 * N intermediaries as one virtual machine scale set, each instance one shard whose index is its instance ID, read
 * by the runtime from the computer name (Azure names instances `<prefix><ID in base 36, 6 characters>`; reimaging
 * keeps the name). No overprovisioning: Azure would otherwise start extra instances, with IDs past N-1, that run the
 * extension and then are deleted. Manual upgrade mode: a model change (a rotated SAS, a new config or release) never
 * reimages or restarts instances by itself; the operator applies it with `upgradeCommand`. Each instance has its own
 * empty managed data disk at the staging LUN, kept across reimaging and deleted with the instance.
 *
 * The name holds the count: instance IDs are never reused, so after scaling in and out they would no longer be
 * 0..N-1 and an instance would get an index the runtime refuses; a new set has IDs 0..N-1 again.
 */
export class IntermediaryScaleSet extends Construct {
  readonly name: string;
  readonly id: string;
  /** The computer names of instance IDs 0 to N-1, the shards' machines. */
  readonly computerNames: readonly string[];
  /** Applies the scale set's current model (extension settings) to every instance, without reimaging. */
  readonly upgradeCommand: string;

  constructor(scope: Construct, id: string, props: IntermediaryScaleSetProps) {
    super(scope, id);
    const stack = props.site.cloud === "azurestack";
    const provider: TerraformProvider = props.site.provider;
    const common = {
      provider,
      name: props.name,
      location: props.location,
      resourceGroupName: props.resourceGroupName,
      tags: { ...props.tags },
      sku: props.size,
      instances: props.instances,
      computerNamePrefix: props.computerNamePrefix,
      overprovision: false,
      doNotRunExtensionsOnOverprovisionedMachines: true,
      upgradeMode: "Manual",
      adminUsername: props.adminUsername,
      disablePasswordAuthentication: true,
      adminSshKey: [{ username: props.adminUsername, publicKey: props.sshPublicKey }],
      sourceImageReference: props.image,
      osDisk: { caching: "ReadWrite", storageAccountType: props.diskType },
      dataDisk: [{ lun: props.lun, caching: "None", createOption: "Empty", diskSizeGb: props.diskGb, storageAccountType: props.diskType }],
      customData: props.customData,
      networkInterface: [{
        name: "primary", primary: true,
        ipConfiguration: [{ name: "primary", primary: true, subnetId: props.subnetId }],
      }],
      extension: [{ name: "dr-sync-settings", ...settingsExtension(props.settingsScript) }],
    };
    const set = stack ? new AsScaleSet(this, "Resource", common) : new AzScaleSet(this, "Resource", common);
    this.name = props.name;
    this.id = set.id;
    this.computerNames = Array.from({ length: props.instances }, (_, i) => scaleSetComputerName(props.computerNamePrefix, i));
    this.upgradeCommand = `az vmss update-instances --resource-group ${props.resourceGroupName} --name ${props.name} --instance-ids '*'`;
  }
}
