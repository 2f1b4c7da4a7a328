import { createHash } from "crypto";
import * as fs from "fs";
import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";
import { DataAzurermStorageAccountSas } from "@cdktf/provider-azurerm/lib/data-azurerm-storage-account-sas";
import { StorageAccount as AzurestackStorageAccount } from "@cdktf/provider-azurestack/lib/storage-account";
import { validateConfig } from "../runtime/src/config/schema";
import { DrStack } from "../lib/stack";
import { all, environmentFrom, exampleAzure, exampleRaw, exampleStackHub, fakeBundle, fakeNode, only, synth } from "./infra-helpers";

Testing.setupJest();

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const stackHub = synth(exampleStackHub());
const toAzure = synth(exampleAzure());

/** The signing query of the external data source (Stack Hub) that signs for an account, by purpose. */
function stackHubSas(json: any, id: string): any {
  const entry = Object.entries(json.data.external).find(([k]) => k.startsWith(`Pair_${id}_`));
  if (!entry) throw new Error(`no external data source ${id}`);
  return (entry[1] as any).query;
}

describe("storage sites", () => {
  test("Stack Hub accounts: kind Storage, LRS, HTTPS only, tagged", () => {
    expect(stackHub.text).toHaveResourceWithProperties(AzurestackStorageAccount, {
      account_kind: "Storage", account_tier: "Standard", account_replication_type: "LRS", enable_https_traffic_only: true,
      tags: expect.objectContaining({ environment: "example", "managed-by": "stackhub-dr", owner: "storage-team" }),
    });
  });

  test("Azure accounts: HTTPS only, TLS 1.2, no public blob access", () => {
    expect(only(toAzure.json, "resource", "azurerm_storage_account")).toMatchObject({
      https_traffic_only_enabled: true, min_tls_version: "TLS1_2", allow_nested_items_to_be_public: false, account_kind: "StorageV2",
    });
  });

  test("every container is private; replicated containers exist at both sites, artifacts only at the source", () => {
    const containers = all(stackHub.json, "resource", "azurestack_storage_container");
    expect(containers.every((c) => c.container_access_type === "private")).toBe(true);
    expect(containers.map((c) => `${c.storage_account_name}/${c.name}`).sort()).toEqual([
      "exampledrsource/dr-sync-artifacts", "exampledrsource/dr-sync-status", "exampledrsource/images", "exampledrsource/invoices",
      "exampledrtarget/dr-sync-status", "exampledrtarget/images", "exampledrtarget/invoices",
    ]);
  });

  test("every resource that takes tags has them", () => {
    for (const s of [stackHub, toAzure]) {
      for (const [type, byId] of Object.entries<any>(s.json.resource)) {
        if (/storage_container|storage_blob|security_rule|disk_attachment|time_rotating/.test(type)) continue;
        for (const r of Object.values<any>(byId)) expect({ type, tags: r.tags }).toEqual({ type, tags: expect.objectContaining({ "managed-by": "stackhub-dr" }) });
      }
    }
  });

  test("an adopted account is read, never created, and its containers are left alone", () => {
    const raw = exampleRaw();
    raw.sites.target.adoptExisting = true;
    raw.sites.target.createResourceGroup = false;
    const { json } = synth(environmentFrom(raw));
    expect(all(json, "resource", "azurestack_storage_account").map((a) => a.name)).toEqual(["exampledrsource"]);
    expect(only(json, "data", "azurestack_storage_account").name).toBe("exampledrtarget");
    // Only the tool's own status container (it holds the fence) is created there.
    expect(all(json, "resource", "azurestack_storage_container").filter((c) => c.storage_account_name === "exampledrtarget").map((c) => c.name)).toEqual(["dr-sync-status"]);
  });

  test("a postcondition checks the blob endpoint the config was rendered with", () => {
    const account = all(stackHub.json, "resource", "azurestack_storage_account").find((a) => a.name === "exampledrsource");
    expect(account.lifecycle.postcondition[0].condition).toBe('${self.primary_blob_endpoint == "https://exampledrsource.blob.east.contoso.com/"}');
  });
});

describe("data protection", () => {
  test("accounts and their resource groups have prevent_destroy by default; the VM side does not", () => {
    for (const a of all(stackHub.json, "resource", "azurestack_storage_account")) expect(a.lifecycle.prevent_destroy).toBe(true);
    for (const c of all(stackHub.json, "resource", "azurestack_storage_container")) {
      expect([c.name, c.lifecycle.prevent_destroy]).toEqual([c.name, !c.name.startsWith("dr-sync-")]);
    }
    const groups = Object.entries<any>(stackHub.json.resource.azurestack_resource_group);
    for (const [id, g] of groups) expect([id, g.lifecycle?.prevent_destroy ?? false]).toEqual([id, !id.startsWith("Pair_Vm_")]);
    for (const type of ["azurestack_linux_virtual_machine", "azurestack_managed_disk", "azurestack_virtual_network", "azurestack_storage_blob"]) {
      for (const r of all(stackHub.json, "resource", type)) expect(r.lifecycle?.prevent_destroy).toBeUndefined();
    }
  });

  test("protectData: false opts out", () => {
    const raw = exampleRaw();
    raw.protectData = false;
    const { json } = synth(environmentFrom(raw));
    for (const a of all(json, "resource", "azurestack_storage_account")) expect(a.lifecycle.prevent_destroy).toBe(false);
  });
});

describe("SAS tokens", () => {
  test("Stack Hub: the reading side may read and list only, the writing side read, list, write, add, create, delete", () => {
    expect(stackHubSas(stackHub.json, "ReadingSas")).toMatchObject({ account: "exampledrsource", permissions: "rl", protocol: "https", version: "2017-11-09", services: "b" });
    expect(stackHubSas(stackHub.json, "WritingSas")).toMatchObject({ account: "exampledrtarget", permissions: "rwdlac", protocol: "https", version: "2017-11-09" });
  });

  test("the VM's artifact SAS reads one container", () => {
    expect(stackHubSas(stackHub.json, "ArtifactsSas")).toMatchObject({ kind: "container", container: "dr-sync-artifacts", permissions: "r" });
  });

  test("Stack Hub tokens are signed by the shipped script, run from the stack's assets", () => {
    const q = Object.values<any>(stackHub.json.data.external)[0];
    expect(q.program).toEqual(["node", expect.stringMatching(/^\$\{path\.module\}\/assets\/sas-signer\/[0-9A-F]+\/sign-sas\.js$/)]);
  });

  test("Azure: azurerm's SAS data source, HTTPS only, writing-side permissions, signed version 2017-11-09", () => {
    expect(toAzure.text).toHaveDataSourceWithProperties(DataAzurermStorageAccountSas, {
      https_only: true,
      signed_version: "2017-11-09",
      services: { blob: true, queue: false, table: false, file: false },
      permissions: { read: true, list: true, write: true, add: true, create: true, delete: true, update: false, process: false, tag: false, filter: false },
    });
  });

  test("expiry comes from time_rotating plus grace, never timestamp()", () => {
    const q = stackHubSas(stackHub.json, "ReadingSas");
    expect(q.expiry).toMatch(/^\$\{timeadd\(time_rotating\.Pair_Rotation_\w+\.rotation_rfc3339, "168h"\)\}$/);
    expect(q.start).toMatch(/^\$\{timeadd\(time_rotating\.Pair_Rotation_\w+\.rfc3339, "-15m"\)\}$/);
    expect(only(stackHub.json, "resource", "time_rotating")).toMatchObject({ rotation_days: 30, triggers: { generation: "1" } });
    expect(stackHub.text).not.toMatch(/timestamp\(/);
  });

  test("sas: variable takes operator-supplied sensitive variables instead of signing", () => {
    const raw = exampleRaw();
    raw.sites.target.sas = "variable";
    const { json } = synth(environmentFrom(raw));
    expect(json.variable.target_replication_write_sas).toMatchObject({ type: "string", sensitive: true });
    // The passive site's application SAS too: the failover-aware client is given both sites (output target_sas).
    expect(json.variable.target_application_sas).toMatchObject({ type: "string", sensitive: true });
    expect(Object.keys(json.data.external).some((k) => k.startsWith("Pair_WritingSas_"))).toBe(false);
  });
});

describe("intermediary VM", () => {
  const vm = only(stackHub.json, "resource", "azurestack_linux_virtual_machine");

  test("runs in the source site, Linux, SSH key only", () => {
    expect(vm.provider).toBe("azurestack.source");
    expect(vm.disable_password_authentication).toBe(true);
    expect(vm.admin_ssh_key[0]).toMatchObject({ username: "azureuser", public_key: expect.stringMatching(/^ssh-rsa /) });
    expect(vm.admin_password).toBeUndefined();
  });

  test("no public IP and no inbound allowed by default", () => {
    expect(stackHub.json.resource.azurestack_public_ip).toBeUndefined();
    expect(only(stackHub.json, "resource", "azurestack_network_interface").ip_configuration[0].public_ip_address_id).toBeUndefined();
    const rules = all(stackHub.json, "resource", "azurestack_network_security_rule");
    expect(rules).toEqual([expect.objectContaining({ direction: "Inbound", access: "Deny", priority: 4096, source_address_prefix: "*", destination_port_range: "*" })]);
    expect(only(stackHub.json, "resource", "azurestack_virtual_network").subnet[0].security_group).toMatch(/azurestack_network_security_group\./);
  });

  test("SSH from the given CIDR, and a public IP, only when asked for", () => {
    const raw = exampleRaw();
    raw.vm.sshSourceCidr = "203.0.113.0/24";
    raw.vm.publicIp = true;
    const { json } = synth(environmentFrom(raw));
    expect(all(json, "resource", "azurestack_network_security_rule")).toEqual(expect.arrayContaining([
      expect.objectContaining({ access: "Allow", protocol: "Tcp", destination_port_range: "22", source_address_prefix: "203.0.113.0/24", priority: 100 }),
    ]));
    expect(only(json, "resource", "azurestack_public_ip").allocation_method).toBe("Static");
  });

  test("a managed staging disk sized by the environment, attached at LUN 0", () => {
    expect(only(stackHub.json, "resource", "azurestack_managed_disk")).toMatchObject({ disk_size_gb: 128, create_option: "Empty" });
    expect(only(stackHub.json, "resource", "azurestack_virtual_machine_data_disk_attachment")).toMatchObject({ lun: 0 });
  });

  test("cloud-init holds no secret and no Terraform expression", () => {
    const cloudInit = Buffer.from(vm.custom_data, "base64").toString();
    expect(cloudInit).toMatch(/^#cloud-config\n/);
    expect(vm.custom_data).not.toMatch(/\$\{/);
    expect(cloudInit).not.toMatch(/sig=|AccountKey|access_key|SAS="/);
  });

  test("the extension's protected settings write the SAS file; nothing else holds a token", () => {
    const ext = only(stackHub.json, "resource", "azurestack_virtual_machine_extension");
    expect(ext).toMatchObject({ publisher: "Microsoft.Azure.Extensions", type: "CustomScript" });
    expect(ext.settings).toBeUndefined();
    expect(ext.protected_settings).toMatch(/DR_SYNC_SOURCE_SAS=\\"", sensitive\(trimprefix\(data\.external\.Pair_ReadingSas_/);
    const mentions = (text: string) => /result\[\\*"sas\\*"\]|azurerm_storage_account_sas|primary_access_key/.test(text);
    expect(mentions(JSON.stringify(ext))).toBe(true);
    for (const [type, byId] of Object.entries<any>(stackHub.json.resource)) {
      for (const r of Object.values<any>(byId)) {
        if (type !== "azurestack_virtual_machine_extension") expect({ type, leaks: mentions(JSON.stringify(r)) }).toEqual({ type, leaks: false });
      }
    }
  });

  test("the runtime bundle's and Node's SHA-256 are pinned in what the VM runs, and name their blobs", () => {
    const ext = only(stackHub.json, "resource", "azurestack_virtual_machine_extension");
    expect(ext.protected_settings).toContain(`DR_SYNC_RUNTIME_SHA256=${sha(fakeBundle)}`);
    expect(ext.protected_settings).toContain(`DR_SYNC_NODE_SHA256=${sha(fakeNode)}`);
    const blobs = all(stackHub.json, "resource", "azurestack_storage_blob").map((b) => b.name).filter((n) => n !== "fence.json").sort();
    expect(blobs).toEqual([`dr-sync/${sha(fakeBundle)}/dr-sync.js`, `node/${sha(fakeNode)}/node`]);
    expect(stackHub.json.output.runtime_sha256.value).toBe(sha(fakeBundle));
  });

  test("a missing runtime bundle fails synth telling to run npm run build", () => {
    const app = Testing.app();
    expect(() => new DrStack(app, { environment: exampleStackHub(), runtimeBundle: "/nonexistent/dr-sync.js", nodeBinary: fakeNode }))
      .toThrow(/does not exist; run `npm run build` first/);
  });
});

describe("rotation", () => {
  test("a new generation re-signs every SAS without replacing the VM or its disk", () => {
    const raw = exampleRaw();
    raw.credentials = { generation: 2 };
    const after = synth(environmentFrom(raw, "example")).json;
    const before = stackHub.json;
    const changed: string[] = [];
    for (const [type, byId] of Object.entries<any>(before.resource)) {
      for (const [id, r] of Object.entries<any>(byId)) {
        if (JSON.stringify(r) !== JSON.stringify(after.resource[type][id])) changed.push(type);
      }
    }
    expect(changed.sort()).toEqual(["azurestack_virtual_machine_extension", "time_rotating"]);
    const vmBefore = only(before, "resource", "azurestack_linux_virtual_machine");
    const vmAfter = only(after, "resource", "azurestack_linux_virtual_machine");
    expect(vmAfter.custom_data).toBe(vmBefore.custom_data);
    const extBefore = only(before, "resource", "azurestack_virtual_machine_extension");
    const extAfter = only(after, "resource", "azurestack_virtual_machine_extension");
    expect(extAfter.protected_settings).not.toBe(extBefore.protected_settings);
    expect({ ...extAfter, protected_settings: "" }).toEqual({ ...extBefore, protected_settings: "" });
    expect(only(after, "resource", "time_rotating").triggers).toEqual({ generation: "2" });
  });
});

describe("active site", () => {
  test("while the source is active, the VM replicates source -> target", () => {
    const cfg = stackHub.stack.pair.runtimeConfig;
    expect(cfg.source.blobEndpoint).toBe("https://exampledrsource.blob.east.contoso.com/");
    expect(cfg.target.blobEndpoint).toBe("https://exampledrtarget.blob.west.contoso.com/");
  });

  test("switching to the target flips the config's endpoints and swaps the SAS permissions (failback)", () => {
    const raw = exampleRaw();
    raw.activeSite = "target";
    const failback = synth(environmentFrom(raw, "example"));
    const cfg = failback.stack.pair.runtimeConfig;
    expect(cfg.source).toMatchObject({ blobEndpoint: "https://exampledrtarget.blob.west.contoso.com/", name: "hub-west" });
    expect(cfg.target).toMatchObject({ blobEndpoint: "https://exampledrsource.blob.east.contoso.com/", name: "hub-east" });
    expect(stackHubSas(failback.json, "ReadingSas")).toMatchObject({ account: "exampledrtarget", permissions: "rl" });
    expect(stackHubSas(failback.json, "WritingSas")).toMatchObject({ account: "exampledrsource", permissions: "rwdlac" });
    expect(stackHubSas(failback.json, "ApplicationSas")).toMatchObject({ account: "exampledrtarget", permissions: "rwdlac" });
    expect(failback.json.output.active_blob_endpoint.value).toBe("https://exampledrtarget.blob.west.contoso.com/");
    expect(failback.json.output.replication.value).toBe("exampledrtarget -> exampledrsource");
  });

  test("the switch does not replace the VM: only the extension changes on the VM side", () => {
    const raw = exampleRaw();
    raw.activeSite = "target";
    const after = synth(environmentFrom(raw, "example")).json;
    expect(only(after, "resource", "azurestack_linux_virtual_machine")).toEqual(only(stackHub.json, "resource", "azurestack_linux_virtual_machine"));
  });

  test("a DNS CNAME points at the active site's blob host, in the zone site's cloud", () => {
    const cname = only(toAzure.json, "resource", "azurerm_dns_cname_record");
    expect(cname).toMatchObject({ name: "blobs", zone_name: "contoso.com", record: "exazdrsource.blob.east.contoso.com", ttl: 60, provider: "azurerm.target" });
    const raw = exampleRaw("example-azure.json");
    raw.activeSite = "target";
    expect(only(synth(environmentFrom(raw)).json, "resource", "azurerm_dns_cname_record").record).toBe("exazdrtarget.blob.core.windows.net");
  });
});

describe("the config the VM runs", () => {
  test("is rendered by the runtime's renderConfig and accepted by validateConfig", () => {
    const pair = stackHub.stack.pair;
    expect(validateConfig(JSON.parse(pair.renderedConfig))).toMatchObject({
      containers: ["invoices", "images"], stagingDir: "/srv/drsync/staging", stateDir: "/srv/drsync/state",
      rpoObjectiveMinutes: 30, guards: { maxDeletePercent: 20, maxDeleteCount: null }, statusContainer: "dr-sync-status",
    });
    expect(pair.runtimeConfig.source.sasEnv).toBe("DR_SYNC_SOURCE_SAS");
    expect(pair.schedule).toBe("*:0/15");
    expect(only(stackHub.json, "resource", "azurestack_virtual_machine_extension").protected_settings).toContain("OnCalendar=*:0/15");
  });
});

describe("providers, backend and outputs", () => {
  test("one aliased provider per site; Stack Hub's with the stamp's ARM endpoint", () => {
    expect(stackHub.json.provider.azurestack).toEqual([
      expect.objectContaining({ alias: "source", metadata_host: "https://management.east.contoso.com" }),
      expect.objectContaining({ alias: "target", metadata_host: "https://management.west.contoso.com" }),
    ]);
    expect(toAzure.json.provider.azurerm).toEqual([expect.objectContaining({ alias: "target", environment: "public" })]);
  });

  test("auth: variables takes each site's principal from sensitive variables", () => {
    expect(toAzure.json.variable.source_client_secret).toMatchObject({ sensitive: true });
    expect(toAzure.json.provider.azurestack[0].client_secret).toBe("${var.source_client_secret}");
  });

  test("local backend by default, the environment's azurerm backend when named", () => {
    expect(stackHub.json.terraform.backend).toEqual({ local: { path: "terraform.example.tfstate" } });
    expect(toAzure.json.terraform.backend.azurerm).toMatchObject({ storage_account_name: "contosotfstate", key: "example-azure.tfstate", use_azuread_auth: true });
  });

  test("outputs an operator needs; the one carrying a SAS is sensitive", () => {
    const out = stackHub.json.output;
    expect(Object.keys(out)).toEqual(expect.arrayContaining([
      "source_blob_endpoint", "target_blob_endpoint", "source_account_name", "target_account_name", "vm_private_ip",
      "schedule", "rpo_objective_minutes", "active_site", "active_blob_endpoint", "active_sas",
    ]));
    expect(out.active_sas.sensitive).toBe(true);
    // Both sites' application SAS, for the failover-aware client; the active one is the same token as active_sas.
    expect([out.source_sas.sensitive, out.target_sas.sensitive]).toEqual([true, true]);
    expect(out.source_sas.value).toBe(out.active_sas.value);
    expect(out.target_sas.value).not.toBe(out.source_sas.value);
    expect(out.rpo_objective_minutes.value).toBe(30);
    for (const [name, o] of Object.entries<any>(out)) {
      if (/result\[\\*"sas\\*"\]|\.sas\b|_sas\b|primary_access_key/.test(JSON.stringify(o.value))) expect([name, o.sensitive]).toEqual([name, true]);
    }
  });
});
