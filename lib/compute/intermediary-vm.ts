import { Fn } from "cdktf";
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
  /** The script the VM extension runs on every deploy (config, SAS file, pins, timer); may hold secrets. */
  readonly settingsScript: string;
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
  if (props.image) {
    for (const k of ["publisher", "offer", "sku", "version"] as const) problems.check(`image.${k}`, props.image[k], RULES.imageField);
  }
}

const DEFAULT_IMAGE: VmImage = { publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "latest" };

/**
 * The Linux VM that runs dr-sync on a timer: SSH key only, no public IP unless asked for, inbound denied by an explicit
 * lowest-priority rule (which also overrides Azure's default allow-from-VNet), a managed staging disk mounted by a
 * systemd unit that waits for it. Its `custom_data` never holds anything that changes with a deploy; the extension does.
 */
export class IntermediaryVm extends Construct {
  /** Private IP of the VM. */
  readonly privateIp: string;
  /** Public IP, when asked for. */
  readonly publicIpAddress?: string;
  readonly customData: string;
  readonly vmId: string;

  constructor(scope: Construct, id: string, props: IntermediaryVmProps) {
    super(scope, id);
    const lun = props.stagingDiskLun ?? 0;
    const diskGb = props.stagingDiskGb ?? 128;
    const addressSpace = props.addressSpace ?? "10.70.0.0/24";
    const problems = new PropProblems();
    checkVmProps({ ...props, stagingDiskGb: diskGb, stagingDiskLun: lun, addressSpace }, problems);
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
    const subnetPrefix = Number(addressSpace.split("/")[1]) < 27 ? `${addressSpace.split("/")[0]}/27` : addressSpace;
    const vnet = stack
      ? new AsVnet(this, "Network", { ...inRg, name: name("vnet"), addressSpace: [addressSpace], subnet: [{ name: subnetName, addressPrefix: subnetPrefix, securityGroup: nsg.id }] })
      : new AzVnet(this, "Network", { ...inRg, name: name("vnet"), addressSpace: [addressSpace], subnet: [{ name: subnetName, addressPrefixes: [subnetPrefix], securityGroup: nsg.id }] });
    // Inline subnets (the azurestack provider can tie an NSG to a subnet only there); their id is the ARM path.
    const subnetId = `${vnet.id}/subnets/${subnetName}`;

    let publicIpId: string | undefined;
    if (props.publicIp) {
      const Pip = stack ? AsPublicIp : AzPublicIp;
      const pip = new Pip(this, "PublicIp", { ...inRg, name: name("pip"), allocationMethod: "Static" });
      publicIpId = pip.id;
      this.publicIpAddress = pip.ipAddress;
    }

    const Nic = stack ? AsNic : AzNic;
    const nic = new Nic(this, "Nic", {
      ...inRg, name: name("nic"),
      ipConfiguration: [{ name: "primary", subnetId, privateIpAddressAllocation: "Dynamic", publicIpAddressId: publicIpId }],
    });
    this.privateIp = nic.privateIpAddress;

    const adminUsername = props.adminUsername ?? "azureuser";
    this.customData = Buffer.from(renderCloudInit({ stagingDiskLun: lun })).toString("base64");
    const diskType = props.diskType ?? "Standard_LRS";
    const Vm = stack ? AsLinuxVm : AzLinuxVm;
    const vm = new Vm(this, "Resource", {
      ...inRg,
      name: name("vm"),
      size: props.size ?? "Standard_DS2_v2",
      adminUsername,
      disablePasswordAuthentication: true,
      adminSshKey: [{ username: adminUsername, publicKey: props.sshPublicKey }],
      networkInterfaceIds: [nic.id],
      osDisk: { caching: "ReadWrite", storageAccountType: diskType },
      sourceImageReference: props.image ?? DEFAULT_IMAGE,
      customData: this.customData,
    });
    this.vmId = vm.id;

    const Disk = stack ? AsManagedDisk : AzManagedDisk;
    const disk = new Disk(this, "StagingDisk", {
      ...inRg, name: name("staging"), storageAccountType: diskType, createOption: "Empty", diskSizeGb: diskGb,
    });
    const Attach = stack ? AsDiskAttachment : AzDiskAttachment;
    const attachment = new Attach(this, "StagingDiskAttachment", {
      provider, managedDiskId: disk.id, virtualMachineId: vm.id, lun, caching: "None",
    });

    const Ext = stack ? AsExtension : AzExtension;
    new Ext(this, "Settings", {
      provider,
      name: "dr-sync-settings",
      virtualMachineId: vm.id,
      publisher: "Microsoft.Azure.Extensions",
      type: "CustomScript",
      // 2.0 is the version Stack Hub marketplaces carry; Azure upgrades it to the newest 2.x.
      typeHandlerVersion: "2.0",
      autoUpgradeMinorVersion: true,
      protectedSettings: Fn.jsonencode({ script: Fn.base64encode(props.settingsScript) }),
      tags,
      dependsOn: [attachment],
    });
  }
}
