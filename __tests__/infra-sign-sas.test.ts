import { execFileSync } from "child_process";
import * as path from "path";
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, ContainerSASPermissions, SASProtocol,
  StorageSharedKeyCredential, generateAccountSASQueryParameters, generateBlobSASQueryParameters,
} from "@azure/storage-blob";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const signer = require("../scripts/sas/sign-sas.js");
const script = path.join(__dirname, "..", "scripts", "sas", "sign-sas.js");

const account = "drexamplesrc";
const key = Buffer.from("a fixed test key, not a real one, 64 bytes long.................").toString("base64");
const start = "2025-01-01T00:00:00Z";
const expiry = "2025-02-07T00:00:00Z";
const credential = new StorageSharedKeyCredential(account, key);

function param(sas: string, name: string): string | null {
  return new URLSearchParams(sas).get(name);
}

describe("sign-sas.js", () => {
  test.each([
    ["reading side", "rl"],
    ["writing side", "racwdl"],
  ])("account SAS for the %s matches @azure/storage-blob at 2017-11-09", (_side, permissions) => {
    const ours = signer.accountSas({ account, key, permissions, start, expiry, version: "2017-11-09" });
    const theirs = generateAccountSASQueryParameters({
      version: "2017-11-09",
      permissions: AccountSASPermissions.parse(permissions),
      services: AccountSASServices.parse("b").toString(),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
      protocol: SASProtocol.Https,
      startsOn: new Date(start),
      expiresOn: new Date(expiry),
    }, credential).toString();
    expect(param(ours, "sig")).toBe(param(theirs, "sig"));
    expect(param(ours, "sp")).toBe(param(theirs, "sp"));
    expect(param(ours, "spr")).toBe("https");
    expect(param(ours, "sv")).toBe("2017-11-09");
  });

  test("container SAS matches @azure/storage-blob at 2017-11-09", () => {
    const ours = signer.containerSas({ account, key, container: "dr-sync-artifacts", permissions: "r", start, expiry, version: "2017-11-09" });
    const theirs = generateBlobSASQueryParameters({
      version: "2017-11-09",
      containerName: "dr-sync-artifacts",
      permissions: ContainerSASPermissions.parse("r"),
      protocol: SASProtocol.Https,
      startsOn: new Date(start),
      expiresOn: new Date(expiry),
    }, credential).toString();
    expect(param(ours, "sig")).toBe(param(theirs, "sig"));
    expect(param(ours, "sr")).toBe("c");
  });

  test("permissions are put in canonical order, unknown ones refused", () => {
    expect(param(signer.accountSas({ account, key, permissions: "lr", expiry, version: "2017-11-09" }), "sp")).toBe("rl");
    expect(() => signer.accountSas({ account, key, permissions: "rz", expiry, version: "2017-11-09" })).toThrow(/"z"/);
  });

  test("versions it cannot sign for are refused", () => {
    expect(() => signer.accountSas({ account, key, permissions: "r", expiry, version: "2021-08-06" })).toThrow(/version/);
  });

  test("runs as Terraform's external program: JSON in, {sas} out, same inputs same token", () => {
    const input = JSON.stringify({ kind: "account", account, key, permissions: "rl", start, expiry, version: "2017-11-09" });
    const run = () => JSON.parse(execFileSync(process.execPath, [script], { input }).toString());
    const first = run();
    expect(Object.keys(first)).toEqual(["sas"]);
    expect(run()).toEqual(first);
  });

  test("a bad input exits non-zero without echoing the key", () => {
    const input = JSON.stringify({ kind: "account", account, key, permissions: "rl", expiry: "soon", version: "2017-11-09" });
    let stderr = "";
    try {
      execFileSync(process.execPath, [script], { input, stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    expect(stderr).toMatch(/expiry/);
    expect(stderr).not.toContain(key);
  });
});
