import { Construct } from "constructs";
import { LinuxVirtualMachine as AzLinuxVm } from "@cdktf/provider-azurerm/lib/linux-virtual-machine";
import { ManagedDisk as AzManagedDisk } from "@cdktf/provider-azurerm/lib/managed-disk";
import { NetworkInterface as AzNic } from "@cdktf/provider-azurerm/lib/network-interface";
import { NetworkSecurityGroup as AzNsg } from "@cdktf/provider-azurerm/lib/network-security-group";
import { NetworkSecurityRule as AzNsgRule } from "@cdktf/provider-azurerm/lib/network-security-rule";
import { PublicIp as AzPublicIp } from "@cdktf/provider-azurerm/lib/public-ip";
import { ResourceGroup as AzResourceGroup } from "@cdktf/provider-azurerm/lib/resource-group";
import { VirtualMachineDataDiskAttachment as AzDiskAttachment } from "@cdktf/provider-azurerm/lib/virtual-machine-data-disk-attachment";
import { VirtualMachineExtension as AzExtension } from "@cdktf/provider-azurerm/lib/virtual-machine-extension";
import { VirtualNetwork as AzVnet } from "@cdktf/provider-azurerm/lib/virtual-network";
import { LinuxVirtualMachine as AsLinuxVm } from "@cdktf/provider-azurestack/lib/linux-virtual-machine";
import { ManagedDisk as AsManagedDisk } from "@cdktf/provider-azurestack/lib/managed-disk";
import { NetworkInterface as AsNic } from "@cdktf/provider-azurestack/lib/network-interface";
import { NetworkSecurityGroup as AsNsg } from "@cdktf/provider-azurestack/lib/network-security-group";
import { NetworkSecurityRule as AsNsgRule } from "@cdktf/provider-azurestack/lib/network-security-rule";
import { PublicIp as AsPublicIp } from "@cdktf/provider-azurestack/lib/public-ip";
import { ResourceGroup as AsResourceGroup } from "@cdktf/provider-azurestack/lib/resource-group";
import { VirtualMachineDataDiskAttachment as AsDiskAttachment } from "@cdktf/provider-azurestack/lib/virtual-machine-data-disk-attachment";
import { VirtualMachineExtension as AsExtension } from "@cdktf/provider-azurestack/lib/virtual-machine-extension";
import { VirtualNetwork as AsVnet } from "@cdktf/provider-azurestack/lib/virtual-network";
import { SiteCloud } from "../cloud/site-provider";
import { renderCloudInit } from "./cloud-init";
import { IntermediaryScaleSet } from "./intermediary-scale-set";
import { settingsExtension } from "./settings-extension";
import { checkScaleOut } from "./scale-out-rules";
import { ScaleOut, ShardSetting, vmShards, vmSubnet } from "./shard-plan";
import { PropProblems, RULES } from "../validation/prop-rules";

export interface VmImage {
  readonly publisher: string;
  readonly offer: string;
  readonly sku: string;
  readonly version: string;
}

export interface IntermediaryVmProps {
  /** The site the VM runs in (the source site: it reaches the source without the internet). */
  readonly site: SiteCloud;
  readonly location: string;
  /** Resource group of the VM and its network: apart from the data, so it can be torn down and rebuilt alone. */
  readonly resourceGroupName: string;
  /** Prefix of resource names. */
  readonly namePrefix: string;
  /** OpenSSH public key of the administrator; password login is off. */
  readonly sshPublicKey: string;
  /** The script the VM extension runs on every deploy (config, SAS file, pins, timer), for a machine's shard
   *  (none when there is one intermediary); may hold secrets. */
  readonly settingsScript: (shard: ShardSetting | undefined) => string;
  /** Intermediaries that split the pair's work, each running one shard (`dr-sync run --shard i/N`) with a staging
   *  disk of its own: 1 to 27 (every NIC takes an address of the VM subnet, a /27 at most), and no more than the
   *  subnet of `addressSpace` holds.
   *  @default 1 */
  readonly instances?: number;
  /** How more than one intermediary is deployed: `"vms"`, N plain VMs, each with its shard index in its config; or
   *  `"scale-set"`, one virtual machine scale set (manual upgrade mode, no overprovisioning) whose instances read
   *  their index from their computer name. `"vms"` by default: the extension of every VM is updated by the deploy
   *  itself (SAS rotation needs no step of its own), a change of `instances` keeps each remaining VM and its disk,
   *  and it needs nothing a Stack Hub offer may lack (see docs/infrastructure.md, "Several intermediaries").
   *  @default "vms" */
  readonly scaleOut?: ScaleOut;
  /** @default "Standard_DS2_v2" */
  readonly size?: string;
  /** @default "azureuser" */
  readonly adminUsername?: string;
  /** CIDR allowed to reach SSH. Without it nothing reaches the VM inbound.
   *  @default no inbound at all */
  readonly sshSourceCidr?: string;
  /** @default false */
  readonly publicIp?: boolean;
  /** Address space of the VM's virtual network; the subnet is its first /27 (or the whole space if smaller).
   *  @default "10.70.0.0/24" */
  readonly addressSpace?: string;
  /** Managed data disk of the staging folder and the runtime state, in GiB.
   *  @default 128 */
  readonly stagingDiskGb?: number;
  /** @default 0 */
  readonly stagingDiskLun?: number;
  /** Storage type of the OS and staging disks (Stack Hub offers Standard_LRS and Premium_LRS).
   *  @default "Standard_LRS" */
  readonly diskType?: string;
  /** Marketplace image (on Stack Hub, downloaded to the stamp's marketplace first).
   *  @default Canonical 0001-com-ubuntu-server-jammy 22_04-lts latest */
  readonly image?: VmImage;
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/** The checks of the VM's own props, also applied to the `vm` object of an environment file. */
export function checkVmProps(props: Partial<Omit<IntermediaryVmProps, "site" | "settingsScript" | "namePrefix">>, problems: PropProblems): void {
  problems.check("resourceGroupName", props.resourceGroupName, RULES.resourceGroupName);
  problems.check("size", props.size, RULES.vmSize);
  problems.check("adminUsername", props.adminUsername, RULES.adminUsername);
  problems.check("sshPublicKey", props.sshPublicKey, RULES.sshPublicKey);
  problems.check("sshSourceCidr", props.sshSourceCidr, RULES.sshSourceCidr);
  problems.check("addressSpace", props.addressSpace, RULES.addressSpace);
  problems.check("stagingDiskGb", props.stagingDiskGb, RULES.stagingDiskGb);
  problems.check("stagingDiskLun", props.stagingDiskLun, RULES.stagingDiskLun);
  problems.check("instances", props.instances, RULES.instances);
  problems.check("scaleOut", props.scaleOut, RULES.scaleOut);
  checkScaleOut(props, problems);
  if (props.image) {
    for (const k of ["publisher", "offer", "sku", "version"] as const) problems.check(`image.${k}`, props.image[k], RULES.imageField);
  }
}

const DEFAULT_IMAGE: VmImage = { publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "latest" };

/**
 * The Linux VM that runs dr-sync on a timer: SSH key only, no public IP unless asked for, inbound denied by an explicit
 * lowest-priority rule (which also overrides Azure's default allow-from-VNet), a managed staging disk mounted by a
 * systemd unit that waits for it. Its `custom_data` never holds anything that changes with a deploy; the extension does.
 * With `instances` above 1: that many such VMs on the same network, each one shard of the work, or one scale set.
 */
export class IntermediaryVm extends Construct {
  /** Private IP of the VM (of the first VM when there are several; none for a scale set). */
  readonly privateIp?: string;
  /** Public IP, when asked for (of the first VM when there are several). */
  readonly publicIpAddress?: string;
  /** Private IPs of every VM, in shard order (empty for a scale set: its instances get theirs when they start). */
  readonly privateIps: readonly string[];
  /** Public IPs of every VM, when asked for. */
  readonly publicIpAddresses: readonly string[];
  /** Computer names of the machines, in shard order (for a scale set, those of instance IDs 0 to N-1). */
  readonly computerNames: readonly string[];
  /** Intermediaries deployed (the `instances` prop). */
  readonly instances: number;
  /** The shard each machine runs: `[undefined]` for one VM, one shared setting for a scale set, one per VM. */
  readonly shards: readonly (ShardSetting | undefined)[];
  readonly customData: string;
  /** Resource IDs of the VMs (empty for a scale set). */
  readonly vmIds: readonly string[];
  /** The scale set, when `scaleOut` is "scale-set" and `instances` is above 1. */
  readonly scaleSet?: IntermediaryScaleSet;

  constructor(scope: Construct, id: string, props: IntermediaryVmProps) {
    super(scope, id);
    const lun = props.stagingDiskLun ?? 0;
    const diskGb = props.stagingDiskGb ?? 128;
    const addressSpace = props.addressSpace ?? "10.70.0.0/24";
    const instances = props.instances ?? 1;
    const scaleOut = props.scaleOut ?? "vms";
    const problems = new PropProblems();
    checkVmProps({ ...props, stagingDiskGb: diskGb, stagingDiskLun: lun, addressSpace, instances, scaleOut }, problems);
    problems.check("namePrefix", props.namePrefix, RULES.namePrefix);
    problems.throwIfAny(`IntermediaryVm ${this.node.path}`);

    const stack = props.site.cloud === "azurestack";
    const provider = props.site.provider;
    const tags = { ...(props.tags ?? {}) };
    const name = (suffix: string) => `${props.namePrefix}-${suffix}`;
    const where = { provider, location: props.location, tags };

    const Rg = stack ? AsResourceGroup : AzResourceGroup;
    const rg = new Rg(this, "ResourceGroup", { ...where, name: props.resourceGroupName });
    const inRg = { ...where, resourceGroupName: rg.name };

    const Nsg = stack ? AsNsg : AzNsg;
    const nsg = new Nsg(this, "SecurityGroup", { ...inRg, name: name("nsg") });
    const NsgRule = stack ? AsNsgRule : AzNsgRule;
    const rule = (id: string, r: { name: string; priority: number; access: string; protocol: string; port: string; from: string }) =>
      new NsgRule(this, id, {
        provider, resourceGroupName: rg.name, networkSecurityGroupName: nsg.name, name: r.name, priority: r.priority,
        direction: "Inbound", access: r.access, protocol: r.protocol, sourcePortRange: "*", destinationPortRange: r.port,
        sourceAddressPrefix: r.from, destinationAddressPrefix: "*",
      });
    rule("DenyAllInbound", { name: "deny-all-inbound", priority: 4096, access: "Deny", protocol: "*", port: "*", from: "*" });
    if (props.sshSourceCidr) {
      rule("AllowSsh", { name: "allow-ssh", priority: 100, access: "Allow", protocol: "Tcp", port: "22", from: props.sshSourceCidr });
    }

    const subnetName = "dr-sync";
    const subnetPrefix = vmSubnet(addressSpace).prefix;
    const vnet = stack
      ? new AsVnet(this, "Network", { ...inRg, name: name("vnet"), addressSpace: [addressSpace], subnet: [{ name: subnetName, addressPrefix: subnetPrefix, securityGroup: nsg.id }] })
      : new AzVnet(this, "Network", { ...inRg, name: name("vnet"), addressSpace: [addressSpace], subnet: [{ name: subnetName, addressPrefixes: [subnetPrefix], securityGroup: nsg.id }] });
    // Inline subnets (the azurestack provider can tie an NSG to a subnet only there); their id is the ARM path.
    const subnetId = `${vnet.id}/subnets/${subnetName}`;

    const adminUsername = props.adminUsername ?? "azureuser";
    // The same user data for every machine: the shard is in the config, which the extension writes.
    this.customData = Buffer.from(renderCloudInit({ stagingDiskLun: lun })).toString("base64");
    const diskType = props.diskType ?? "Standard_LRS";
    this.instances = instances;
    this.shards = vmShards(instances, scaleOut);
    const machine = {
      size: props.size ?? "Standard_DS2_v2", adminUsername, sshPublicKey: props.sshPublicKey, diskType,
      image: props.image ?? DEFAULT_IMAGE, customData: this.customData, lun, diskGb,
    };

    if (instances > 1 && scaleOut === "scale-set") {
      this.scaleSet = new IntermediaryScaleSet(this, "ScaleSet", {
        site: props.site, location: props.location, resourceGroupName: rg.name, tags, subnetId,
        name: name(`vmss-n${instances}`), computerNamePrefix: `${props.namePrefix}-`, instances,
        settingsScript: props.settingsScript(this.shards[0]), ...machine,
      });
      this.privateIps = [];
      this.publicIpAddresses = [];
      this.vmIds = [];
      this.computerNames = this.scaleSet.computerNames;
      return;
    }

    const vms = this.shards.map((shard, k) => {
      // The first VM keeps the ids and names of a single VM, so going from 1 to N VMs leaves it (and its disk) in place.
      const cid = (base: string) => (k === 0 ? base : `${base}${k}`);
      const nm = (suffix: string) => name(k === 0 ? suffix : `${suffix}-${k}`);

      let publicIpId: string | undefined;
      let publicIpAddress: string | undefined;
      if (props.publicIp) {
        const Pip = stack ? AsPublicIp : AzPublicIp;
        const pip = new Pip(this, cid("PublicIp"), { ...inRg, name: nm("pip"), allocationMethod: "Static" });
        publicIpId = pip.id;
        publicIpAddress = pip.ipAddress;
      }

      const Nic = stack ? AsNic : AzNic;
      const nic = new Nic(this, cid("Nic"), {
        ...inRg, name: nm("nic"),
        ipConfiguration: [{ name: "primary", subnetId, privateIpAddressAllocation: "Dynamic", publicIpAddressId: publicIpId }],
      });

      const Vm = stack ? AsLinuxVm : AzLinuxVm;
      const vm = new Vm(this, cid("Resource"), {
        ...inRg,
        name: nm("vm"),
        size: machine.size,
        adminUsername,
        disablePasswordAuthentication: true,
        adminSshKey: [{ username: adminUsername, publicKey: props.sshPublicKey }],
        networkInterfaceIds: [nic.id],
        osDisk: { caching: "ReadWrite", storageAccountType: diskType },
        sourceImageReference: machine.image,
        customData: this.customData,
      });

      const Disk = stack ? AsManagedDisk : AzManagedDisk;
      const disk = new Disk(this, cid("StagingDisk"), {
        ...inRg, name: nm("staging"), storageAccountType: diskType, createOption: "Empty", diskSizeGb: diskGb,
      });
      const Attach = stack ? AsDiskAttachment : AzDiskAttachment;
      const attachment = new Attach(this, cid("StagingDiskAttachment"), {
        provider, managedDiskId: disk.id, virtualMachineId: vm.id, lun, caching: "None",
      });

      const Ext = stack ? AsExtension : AzExtension;
      new Ext(this, cid("Settings"), {
        provider,
        name: "dr-sync-settings",
        virtualMachineId: vm.id,
        ...settingsExtension(props.settingsScript(shard)),
        tags,
        dependsOn: [attachment],
      });
      return { privateIp: nic.privateIpAddress, publicIpAddress, id: vm.id, name: nm("vm") };
    });
    this.privateIps = vms.map((v) => v.privateIp);
    this.privateIp = this.privateIps[0];
    this.publicIpAddresses = vms.flatMap((v) => (v.publicIpAddress ? [v.publicIpAddress] : []));
    this.publicIpAddress = this.publicIpAddresses[0];
    this.vmIds = vms.map((v) => v.id);
    // A VM's computer name defaults to its resource name.
    this.computerNames = vms.map((v) => v.name);
  }
}
