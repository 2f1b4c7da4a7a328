import { Testing } from "cdktf";
import { loadEnvironments } from "../lib/environment/load";
import { EnvironmentError } from "../lib/environment/validate";
import { envDir, environmentFrom, exampleRaw } from "./infra-helpers";

Testing.setupJest();

/** A minimal valid file: everything optional left out. */
function minimal(): any {
  const raw = exampleRaw();
  return {
    sites: {
      source: { cloud: "azurestack", location: "east", armEndpoint: "https://management.east.contoso.com", storageEndpointSuffix: "east.contoso.com", resourceGroup: "rg", accountName: "srcacct" },
      target: { cloud: "azure", location: "westeurope", resourceGroup: "rg", accountName: "dstacct" },
    },
    containers: ["invoices"],
    vm: { sshPublicKey: raw.vm.sshPublicKey },
  };
}

function problems(raw: unknown): string[] {
  try {
    environmentFrom(raw);
  } catch (err) {
    if (err instanceof EnvironmentError) return [...err.problems];
    throw err;
  }
  return [];
}

describe("environment files", () => {
  test("the shipped examples validate", () => {
    const names = loadEnvironments(envDir).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(["example", "example-azure"]));
  });

  describe("defaults", () => {
    const env = environmentFrom(minimal(), "minimal");
    test.each([
      ["name is the file name", env.name, "minimal"],
      ["activeSite is source", env.activeSite, "source"],
      ["schedule is every 15 minutes", env.schedule, "*:0/15"],
      ["rpoObjectiveMinutes is none", env.rpoObjectiveMinutes, null],
      ["deleteDestination is on", env.deleteDestination, true],
      ["guards are the runtime's", env.guards, { maxDeletePercent: 50, maxDeleteCount: null }],
      ["vm.size", env.vm.size, "Standard_DS2_v2"],
      ["vm.stagingDiskGb", env.vm.stagingDiskGb, 128],
      ["vm.adminUsername", env.vm.adminUsername, "azureuser"],
      ["vm.sshSourceCidr is none", env.vm.sshSourceCidr, null],
      ["vm.publicIp is off", env.vm.publicIp, false],
      ["vm.addressSpace", env.vm.addressSpace, "10.70.0.0/24"],
      ["vm.resourceGroup", env.vm.resourceGroup, "minimal-dr-vm"],
      ["vm.image", env.vm.image, { publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts", version: "latest" }],
      ["credentials", env.credentials, { rotationDays: 30, graceDays: 7, generation: 1 }],
      ["protectData is on", env.protectData, true],
      ["tags are none", env.tags, {}],
      ["backend is local", env.backend, { type: "local" }],
      ["dns is none", env.dns, undefined],
      ["site label is the role", env.sites.source.label, "source"],
      ["site auth is the ARM_* environment", env.sites.source.auth, "environment"],
      ["site sas is signed in the run", env.sites.source.sas, "sign"],
      ["site sasVersion is 2017-11-09", env.sites.target.sasVersion, "2017-11-09"],
      ["createResourceGroup is on", env.sites.source.createResourceGroup, true],
      ["adoptExisting is off", env.sites.source.adoptExisting, false],
      ["azure storage suffix is core.windows.net", env.sites.target.storageEndpointSuffix, "core.windows.net"],
      ["azure environment is public", env.sites.target.azureEnvironment, "public"],
    ])("%s", (_what, actual, expected) => {
      expect(actual).toEqual(expected);
    });

    test("an azurerm backend keys its state by environment and uses Entra ID", () => {
      const env2 = environmentFrom({ ...minimal(), backend: { type: "azurerm", resourceGroupName: "tfstate", storageAccountName: "tfstateacct", containerName: "state" } }, "prod");
      expect(env2.backend).toEqual({ type: "azurerm", resourceGroupName: "tfstate", storageAccountName: "tfstateacct", containerName: "state", key: "prod.tfstate", environment: "public", useAzureadAuth: true });
    });

    test("dns ttl is 60 seconds", () => {
      const env2 = environmentFrom({ ...minimal(), dns: { zoneSite: "target", zoneName: "contoso.com", resourceGroup: "dns", recordName: "blobs" } });
      expect(env2.dns?.ttl).toBe(60);
    });
  });

  describe("validation names the key and the value", () => {
    const cases: Array<[string, (raw: any) => void, RegExp]> = [
      ["unknown top-level key", (r) => (r.colour = "blue"), /^colour is not a known key/],
      ["bad activeSite", (r) => (r.activeSite = "dr"), /^activeSite must be one of "source", "target" \(got "dr"\)/],
      ["missing sites", (r) => delete r.sites, /^sites must be an object \(got nothing\)/],
      ["bad cloud", (r) => (r.sites.source.cloud = "aws"), /^sites\.source\.cloud must be one of "azure", "azurestack" \(got "aws"\)/],
      ["azurestack without armEndpoint", (r) => delete r.sites.source.armEndpoint, /^sites\.source\.armEndpoint is required/],
      ["armEndpoint on azure", (r) => (r.sites.target.armEndpoint = "https://management.x.com"), /^sites\.target\.armEndpoint applies to "azurestack" sites only/],
      ["azurestack without storage suffix", (r) => delete r.sites.source.storageEndpointSuffix, /^sites\.source\.storageEndpointSuffix is required/],
      ["bad account name", (r) => (r.sites.target.accountName = "Bad_Name"), /^sites\.target\.accountName must be 3-24 lowercase letters or digits \(got "Bad_Name"\)/],
      ["same account twice", (r) => { r.sites.target = { ...r.sites.source }; }, /must differ \(both are "srcacct"\)/],
      ["bad subscription id", (r) => (r.sites.source.subscriptionId = "abc"), /^sites\.source\.subscriptionId must be a GUID \(got "abc"\)/],
      ["bad sas mode", (r) => (r.sites.source.sas = "manual"), /^sites\.source\.sas must be one of "sign", "variable" \(got "manual"\)/],
      ["bad sasVersion", (r) => (r.sites.source.sasVersion = "v1"), /^sites\.source\.sasVersion must be a storage service version/],
      ["empty containers", (r) => (r.containers = []), /^containers must be a non-empty array/],
      ["bad container", (r) => (r.containers = ["Invoices"]), /^containers\[0\] must be 3-63 lowercase .* \(got "Invoices"\)/],
      ["repeated container", (r) => (r.containers = ["invoices", "invoices"]), /^containers\[1\] repeats "invoices"/],
      ["reserved container", (r) => (r.containers = ["dr-sync-status"]), /^containers\[0\] must be a container name not starting with "dr-sync-" .*\(got "dr-sync-status"\)$/],
      ["bad schedule", (r) => (r.schedule = "hourly\nOnBootSec=1"), /^schedule must be a systemd OnCalendar expression/],
      ["bad rpo", (r) => (r.rpoObjectiveMinutes = 0), /^rpoObjectiveMinutes must be a whole number from 1 to 525600 \(got 0\)/],
      ["bad guard", (r) => (r.guards = { maxDeletePercent: 150 }), /^guards\.maxDeletePercent must be a whole number from 0 to 100 \(got 150\)/],
      ["missing ssh key", (r) => delete r.vm.sshPublicKey, /^vm\.sshPublicKey is required/],
      ["password instead of key", (r) => (r.vm.sshPublicKey = "hunter2"), /^vm\.sshPublicKey must be an OpenSSH public key .* \(got "hunter2"\)/],
      ["ssh open to the world", (r) => (r.vm.sshSourceCidr = "0.0.0.0/0"), /^vm\.sshSourceCidr must be an IPv4 CIDR like "203\.0\.113\.0\/24", not the whole internet \("0\.0\.0\.0\/0"\) \(got "0\.0\.0\.0\/0"\)$/],
      ["bad cidr", (r) => (r.vm.sshSourceCidr = "10.0.0.0"), /^vm\.sshSourceCidr must be an IPv4 CIDR .* \(got "10\.0\.0\.0"\)/],
      ["tiny disk", (r) => (r.vm.stagingDiskGb = 1), /^vm\.stagingDiskGb must be a whole number from 8 to 4095 \(got 1\)/],
      ["root admin", (r) => (r.vm.adminUsername = "root"), /^vm\.adminUsername must be a Linux user name other than "root"/],
      ["bad rotation", (r) => (r.credentials = { rotationDays: 0 }), /^credentials\.rotationDays must be a whole number from 1 to 365 \(got 0\)/],
      ["bad protectData", (r) => (r.protectData = "yes"), /^protectData must be true or false \(got "yes"\)/],
      ["bad tag", (r) => (r.tags = { owner: 5 }), /^tags\.owner must be a string/],
      ["bad backend type", (r) => (r.backend = { type: "s3" }), /^backend\.type must be one of "local", "azurerm" \(got "s3"\)/],
      ["azurerm backend without account", (r) => (r.backend = { type: "azurerm", resourceGroupName: "rg", containerName: "state" }), /^backend\.storageAccountName is required/],
      ["dns without zone site", (r) => (r.dns = { zoneName: "contoso.com", resourceGroup: "dns", recordName: "blobs" }), /^dns\.zoneSite must be one of "source", "target" \(got nothing\)/],
    ];
    test.each(cases)("%s", (_what, change, message) => {
      const raw = minimal();
      change(raw);
      expect(problems(raw)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
    });

    test("every problem is listed at once, in one error that names the file", () => {
      const raw = minimal();
      raw.activeSite = "dr";
      raw.containers = ["Invoices"];
      raw.vm.stagingDiskGb = 1;
      raw.sites.target.accountName = "X";
      let error: unknown;
      try {
        environmentFrom(raw);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as EnvironmentError).problems).toHaveLength(4);
      const withFile = new EnvironmentError((error as EnvironmentError).problems, "environments/prod.json");
      expect(withFile.message).toMatch(/^invalid environment environments\/prod\.json:\n  - /);
    });
  });
});
