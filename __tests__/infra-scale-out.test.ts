/**
 * Several intermediaries (issue 14): `vm.instances` as one scale set or as N VMs, each machine one shard of the work,
 * each with its own staging disk; checked on the synthesized stacks of both clouds.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing } from "cdktf";
import { renderConfig } from "../runtime/src/config/schema";
import { renderCloudInit } from "../lib/compute/cloud-init";
import { DrStack } from "../lib/stack";
import { MAX_INSTANCES, scaleSetComputerName, usableAddresses, vmShards } from "../lib/compute/shard-plan";
import { all, environmentFrom, exampleRaw, only, synth, Synthesized } from "./infra-helpers";

const withVm = (vm: object, extra: object = {}, file = "example.json") => {
  const raw = exampleRaw(file);
  return environmentFrom({ ...raw, ...extra, vm: { ...raw.vm, ...vm } }, "test");
};
/** Public Azure as the source site, so the VM (and the scale set) is an azurerm one. */
const azureSource = (vm: object) => {
  const raw = exampleRaw("example-azure.json");
  const sites = { source: raw.sites.target, target: raw.sites.source };
  return environmentFrom({ ...raw, sites, vm: { ...raw.vm, ...vm } }, "test");
};

/** The settings script of an extension, SAS references left out: the HCL string literals of the expression, joined. */
function settingsScript(protectedSettings: string): string {
  const head = '${jsonencode({"script" = base64encode(join("", [';
  expect(protectedSettings.startsWith(head)).toBe(true);
  const literals = protectedSettings.slice(head.length).match(/"(?:[^"\\]|\\.)*"/g) ?? [];
  return literals.map((l) => (JSON.parse(l) as string).replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{")).join("");
}

/** The runtime config the settings script writes. */
function configOf(protectedSettings: string): any {
  const m = /cat > \/etc\/dr-sync\/config\.json\.new <<'DR_SYNC_EOF'\n([\s\S]*?)\nDR_SYNC_EOF\n/.exec(settingsScript(protectedSettings));
  if (!m) throw new Error("no config in the settings script");
  return JSON.parse(m[1]);
}

/** Resources of a type in the order of their names: the first VM's, then the ones numbered 1, 2... */
const byName = (json: any, type: string): any[] => all(json, "resource", type).sort((a, b) => a.name.localeCompare(b.name));
const userData = (customData: string) => Buffer.from(customData, "base64").toString();
const vmAddresses = (s: Synthesized) => Object.entries(s.json.resource as Record<string, Record<string, unknown>>)
  .flatMap(([type, byName]) => Object.keys(byName).filter((n) => n.includes("_Vm_")).map((n) => `${type}.${n.replace(/_[0-9A-F]{8}$/, "")}`))
  .sort();

/** The example stack with one intermediary, as before `vm.instances`. */
const base = synth(withVm({}));

describe("one intermediary (vm.instances 1) is the stack of before", () => {

  test.each([["instances 1", { instances: 1 }], ["instances 1, scaleOut scale-set", { instances: 1, scaleOut: "scale-set" }], ["instances 1, scaleOut vms", { instances: 1, scaleOut: "vms" }]])(
    "%s synthesizes the same text as no setting", (_what, vm) => {
      expect(synth(withVm(vm)).text).toBe(base.text);
    });

  test("one VM, one staging disk and attachment, one extension; no scale set; no shard key; one IP output", () => {
    expect(vmAddresses(base)).toEqual([
      "azurestack_linux_virtual_machine.Pair_Vm", "azurestack_managed_disk.Pair_Vm_StagingDisk",
      "azurestack_network_interface.Pair_Vm_Nic", "azurestack_network_security_group.Pair_Vm_SecurityGroup",
      "azurestack_network_security_rule.Pair_Vm_DenyAllInbound", "azurestack_resource_group.Pair_Vm_ResourceGroup",
      "azurestack_virtual_machine_data_disk_attachment.Pair_Vm_StagingDiskAttachment",
      "azurestack_virtual_machine_extension.Pair_Vm_Settings", "azurestack_virtual_network.Pair_Vm_Network",
    ]);
    expect(all(base.json, "resource", "azurestack_linux_virtual_machine_scale_set")).toHaveLength(0);
    const cfg = configOf(only(base.json, "resource", "azurestack_virtual_machine_extension").protected_settings);
    expect(cfg).not.toHaveProperty("shard");
    expect(renderConfig(cfg)).toBe(base.stack.pair.renderedConfig);
    expect(base.stack.pair.instanceConfigs).toEqual([base.stack.pair.renderedConfig]);
    expect(Object.keys(base.json.output).filter((o) => o.startsWith("vm_") || o.startsWith("runtime_config")).sort()).toEqual(["runtime_config", "vm_private_ip"]);
  });
});

describe.each([
  ["Stack Hub", () => withVm({ instances: 3, scaleOut: "scale-set" }), "azurestack"],
  ["Azure", () => azureSource({ instances: 3, scaleOut: "scale-set" }), "azurerm"],
] as const)("vm.instances 3 as a scale set on %s", (_cloud, env, provider) => {
  const s = synth(env());
  const set = () => only(s.json, "resource", `${provider}_linux_virtual_machine_scale_set`);

  test("one scale set of 3 instances, no overprovisioning, manual upgrades, and no plain VM, disk or extension", () => {
    expect(set()).toMatchObject({ instances: 3, overprovision: false, upgrade_mode: "Manual", sku: "Standard_DS2_v2" });
    for (const t of ["linux_virtual_machine", "managed_disk", "virtual_machine_data_disk_attachment", "virtual_machine_extension", "network_interface"]) {
      expect(all(s.json, "resource", `${provider}_${t}`)).toHaveLength(0);
    }
  });

  test("each instance gets an empty managed staging disk at LUN 0, of stagingDiskGb", () => {
    expect(set().data_disk).toEqual([expect.objectContaining({ lun: 0, create_option: "Empty", disk_size_gb: s.stack.environment.vm.stagingDiskGb, caching: "None", storage_account_type: "Standard_LRS" })]);
  });

  test("instances are named <prefix><ID in base 36, 6 characters>, whose last 6 characters are the shard index", () => {
    expect(set().computer_name_prefix).toBe("test-dr-");
    const names = s.json.output.vm_computer_names.value as string[];
    expect(names).toEqual(["test-dr-000000", "test-dr-000001", "test-dr-000002"]);
    expect(names.map((n) => parseInt(n.slice(-6), 36))).toEqual([0, 1, 2]);
  });

  test("the user data is the single VM's, which holds no config", () => {
    expect(userData(set().custom_data)).toBe(renderCloudInit({ stagingDiskLun: 0 }));
  });

  test("the settings extension writes the pair's config with shard { count: 3, indexFrom: hostname }", () => {
    expect(set().extension).toEqual([expect.objectContaining({ name: "dr-sync-settings", publisher: "Microsoft.Azure.Extensions", type: "CustomScript" })]);
    const { shard, ...rest } = configOf(set().extension[0].protected_settings);
    expect(shard).toEqual({ count: 3, indexFrom: "hostname" });
    expect(renderConfig(rest)).toBe(s.stack.pair.renderedConfig);
    expect(s.stack.pair.instanceConfigs).toHaveLength(1);
    expect(s.json.output.runtime_configs.value).toEqual(s.stack.pair.instanceConfigs);
  });

  test("the scale set's name holds the count, so a change of instances replaces it (IDs 0..N-1 again)", () => {
    expect(set().name).toBe("test-dr-vmss-n3");
    expect(synth(provider === "azurestack" ? withVm({ instances: 4, scaleOut: "scale-set" }) : azureSource({ instances: 4, scaleOut: "scale-set" }))
      .json.output.vm_scale_set_name.value).toBe("test-dr-vmss-n4");
  });

  test("outputs name the scale set, its instances and the upgrade command; no single-VM IP", () => {
    expect(s.json.output.vm_upgrade_command.value).toMatch(/^az vmss update-instances --resource-group \$\{.*\} --name test-dr-vmss-n3 --instance-ids '\*'$/);
    expect(s.json.output).not.toHaveProperty("vm_private_ip");
  });

  test("no SAS in the user data or any output that is not sensitive", () => {
    expect(userData(set().custom_data)).not.toMatch(/sig=|SAS"?\s*=\s*"?[^"@\n]/);
    for (const [name, o] of Object.entries(s.json.output as Record<string, { value: unknown; sensitive?: boolean }>)) {
      if (!o.sensitive) expect([name, JSON.stringify(o.value)]).not.toEqual([name, expect.stringMatching(/data\.external|_sas\.|sig=/)]);
    }
  });
});

describe("vm.instances 3 as VMs", () => {
  const s = synth(withVm({ instances: 3, scaleOut: "vms" }));
  const vms = () => byName(s.json, "azurestack_linux_virtual_machine");
  const ids = () => vms().map((v) => `\${azurestack_linux_virtual_machine.${Object.keys(s.json.resource.azurestack_linux_virtual_machine).find((k) => s.json.resource.azurestack_linux_virtual_machine[k] === v)}.id}`);
  const extensions = () => ids().map((id) => all(s.json, "resource", "azurestack_virtual_machine_extension").find((e) => e.virtual_machine_id === id));

  test("3 VMs, 3 NICs, 3 staging disks, 3 attachments, 3 extensions; no scale set", () => {
    for (const t of ["linux_virtual_machine", "network_interface", "managed_disk", "virtual_machine_data_disk_attachment", "virtual_machine_extension"]) {
      expect([t, all(s.json, "resource", `azurestack_${t}`).length]).toEqual([t, 3]);
    }
    expect(all(s.json, "resource", "azurestack_linux_virtual_machine_scale_set")).toHaveLength(0);
    expect(vms().map((v) => v.name)).toEqual(["test-dr-vm", "test-dr-vm-1", "test-dr-vm-2"]);
    expect(byName(s.json, "azurestack_managed_disk").map((d) => [d.name, d.disk_size_gb])).toEqual([["test-dr-staging", 128], ["test-dr-staging-1", 128], ["test-dr-staging-2", 128]]);
  });

  test("every VM has the same user data, and its own index 0, 1, 2 in its extension's config", () => {
    expect(new Set(vms().map((v) => v.custom_data)).size).toBe(1);
    const shards = extensions().map((e) => configOf(e.protected_settings).shard);
    expect(shards).toEqual([{ count: 3, index: 0 }, { count: 3, index: 1 }, { count: 3, index: 2 }]);
    expect(s.stack.pair.instanceConfigs.map((c) => JSON.parse(c).shard)).toEqual(shards);
  });

  test("each disk is attached to its own VM, and each VM has one extension", () => {
    const disks = Object.entries(s.json.resource.azurestack_managed_disk as Record<string, any>);
    const attachedDisk = (id: string) => {
      const a = all(s.json, "resource", "azurestack_virtual_machine_data_disk_attachment").filter((x) => x.virtual_machine_id === id);
      expect(a).toHaveLength(1);
      return disks.find(([k]) => a[0].managed_disk_id === `\${azurestack_managed_disk.${k}.id}`)?.[1].name;
    };
    expect(ids().map(attachedDisk)).toEqual(["test-dr-staging", "test-dr-staging-1", "test-dr-staging-2"]);
    expect(extensions().every((e) => e !== undefined)).toBe(true);
  });

  test("the first VM keeps the single VM's resources, so going from 1 to 3 VMs adds two and replaces none", () => {
    const one = vmAddresses(base);
    const three = vmAddresses(s);
    expect(three).toEqual(expect.arrayContaining(one));
    expect(three.filter((a) => !one.includes(a)).map((a) => a.replace(/^[a-z_]+\./, "")).sort()).toEqual([
      "Pair_Vm_Nic1", "Pair_Vm_Nic2", "Pair_Vm_Resource1", "Pair_Vm_Resource2", "Pair_Vm_Settings1", "Pair_Vm_Settings2",
      "Pair_Vm_StagingDisk1", "Pair_Vm_StagingDisk2", "Pair_Vm_StagingDiskAttachment1", "Pair_Vm_StagingDiskAttachment2",
    ]);
  });

  test("outputs list every VM and its IP in shard order", () => {
    expect(s.json.output.vm_names.value).toEqual(["test-dr-vm", "test-dr-vm-1", "test-dr-vm-2"]);
    const nics = s.json.resource.azurestack_network_interface as Record<string, any>;
    const nicOf = (ip: string) => nics[/^\$\{azurestack_network_interface\.(\w+)\.private_ip_address\}$/.exec(ip)![1]].name;
    expect((s.json.output.vm_private_ips.value as string[]).map(nicOf)).toEqual(["test-dr-nic", "test-dr-nic-1", "test-dr-nic-2"]);
    expect(s.json.output.runtime_configs.value).toHaveLength(3);
  });

  test("with publicIp, each VM has its own public IP, listed", () => {
    const p = synth(withVm({ instances: 2, publicIp: true }));
    expect(byName(p.json, "azurestack_public_ip").map((i) => i.name)).toEqual(["test-dr-pip", "test-dr-pip-1"]);
    expect(p.json.output.vm_public_ips.value).toHaveLength(2);
  });

  test("shardSplit goes into every machine's shard key", () => {
    const p = synth(withVm({ instances: 2 }, { shardSplit: [exampleRaw().containers[0]] }));
    expect(p.stack.pair.instanceConfigs.map((c) => JSON.parse(c).shard)).toEqual([
      { count: 2, index: 0, split: [exampleRaw().containers[0]] }, { count: 2, index: 1, split: [exampleRaw().containers[0]] },
    ]);
  });
});

/** The resource types whose blocks differ between two synthesized stacks, once per resource. */
function changedTypes(before: any, after: any): string[] {
  const changed: string[] = [];
  for (const [type, byId] of Object.entries<any>(before.resource)) {
    for (const [id, r] of Object.entries<any>(byId)) if (JSON.stringify(r) !== JSON.stringify(after.resource[type]?.[id])) changed.push(type);
  }
  return changed.sort();
}

describe("a SAS rotation with several intermediaries", () => {
  const rotated = (vm: object) => [synth(withVm(vm)).json, synth(withVm(vm, { credentials: { generation: 2 } })).json];

  test("as VMs: every VM's extension is updated in place, and nothing else but the rotation changes", () => {
    const [before, after] = rotated({ instances: 3 });
    expect(changedTypes(before, after)).toEqual([...Array(3).fill("azurestack_virtual_machine_extension"), "time_rotating"]);
  });

  test("as a scale set: only its extension block changes (applied to the instances by vm_upgrade_command)", () => {
    const [before, after] = rotated({ instances: 3, scaleOut: "scale-set" });
    expect(changedTypes(before, after)).toEqual(["azurestack_linux_virtual_machine_scale_set", "time_rotating"]);
    const [b, a] = [before, after].map((j) => only(j, "resource", "azurestack_linux_virtual_machine_scale_set"));
    expect(a.extension[0].protected_settings).not.toBe(b.extension[0].protected_settings);
    expect({ ...a, extension: [] }).toEqual({ ...b, extension: [] });
  });
});

describe("bad values are refused, naming the key", () => {
  test.each([
    [{ instances: 0 }, `vm.instances must be a whole number from 1 to ${MAX_INSTANCES} (got 0)`],
    [{ instances: 2.5 }, `vm.instances must be a whole number from 1 to ${MAX_INSTANCES} (got 2.5)`],
    [{ instances: "3" }, `vm.instances must be a whole number from 1 to ${MAX_INSTANCES} (got "3")`],
    [{ instances: 28 }, `vm.instances must be a whole number from 1 to ${MAX_INSTANCES} (got 28)`],
    [{ instances: 4, addressSpace: "10.1.0.0/29" }, 'vm.instances must be at most 3, the addresses the subnet of addressSpace "10.1.0.0/29" holds (got 4)'],
    [{ scaleOut: "vmss" }, 'vm.scaleOut must be one of "scale-set", "vms" (got "vmss")'],
    [{ instances: 2, scaleOut: "scale-set", publicIp: true }, 'vm.publicIp is not available with scaleOut "scale-set"'],
  ])("environment file vm %j", (vm, message) => {
    expect(() => withVm(vm)).toThrow(message);
  });

  test.each([
    [{ shardSplit: ["nope"] }, { instances: 2 }, 'shardSplit[0] must be one of containers (got "nope")'],
    [{ shardSplit: "invoices" }, { instances: 2 }, 'shardSplit must be an array of container names (got "invoices")'],
    [{ shardSplit: [exampleRaw().containers[0]] }, {}, "shardSplit needs vm.instances above 1"],
  ])("environment file %j with vm %j", (extra, vm, message) => {
    expect(() => withVm(vm, extra)).toThrow(message);
  });

  test("the construct refuses the same values, every problem at once, naming the prop", () => {
    const env = withVm({});
    const bad = { ...env, vm: { ...env.vm, instances: 40, scaleOut: "many" as never } };
    expect(() => new DrStack(Testing.app(), { environment: bad })).toThrow(
      new RegExp(`vm\\.instances must be a whole number from 1 to ${MAX_INSTANCES} \\(got 40\\)[\\s\\S]*vm\\.scaleOut must be one of`));
  });
});

describe("shard plan", () => {
  test.each([
    [1, "scale-set", [undefined]],
    [1, "vms", [undefined]],
    [3, "scale-set", [{ count: 3, indexFrom: "hostname" }]],
    [3, "vms", [{ count: 3, index: 0 }, { count: 3, index: 1 }, { count: 3, index: 2 }]],
  ] as const)("%i instance(s) as %s", (n, mode, expected) => expect(vmShards(n, mode)).toEqual(expected));

  test.each([[0, "p-000000"], [35, "p-00000z"], [36, "p-000010"], [36 ** 6 - 1, "p-zzzzzz"]])("instance %i is named %s", (id, name) => {
    expect(scaleSetComputerName("p-", id)).toBe(name);
    expect(parseInt(name.slice(-6), 36)).toBe(id);
  });

  test.each([[27, 27], [28, 11], [29, 3]])("a /%i subnet holds %i NICs", (len, n) => expect(usableAddresses(len)).toBe(n));
});

const noCloudInit = spawnSync("sh", ["-c", "command -v cloud-init"]).status === 0 ? undefined : "cloud-init is not installed (apt-get install cloud-init)";
if (noCloudInit) console.warn(`infra-scale-out: cloud-init schema check skipped: ${noCloudInit}`);
(noCloudInit ? describe.skip : describe)("cloud-init schema", () => {
  test.each([["Stack Hub", () => withVm({ instances: 3, scaleOut: "scale-set" }), "azurestack"], ["Azure", () => azureSource({ instances: 3, scaleOut: "scale-set" }), "azurerm"]] as const)(
    "the scale set's user data on %s is valid cloud-config", (_cloud, env, provider) => {
      const text = userData(only(synth(env()).json, "resource", `${provider}_linux_virtual_machine_scale_set`).custom_data);
      const dir = mkdtempSync(join(tmpdir(), "vmss-userdata-"));
      try {
        writeFileSync(join(dir, "user-data"), text);
        const r = spawnSync("cloud-init", ["schema", "--config-file", join(dir, "user-data")], { encoding: "utf8" });
        expect({ code: r.status, output: `${r.stdout}${r.stderr}`.trim() }).toEqual({ code: 0, output: expect.stringMatching(/^Valid cloud-config/) });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});
