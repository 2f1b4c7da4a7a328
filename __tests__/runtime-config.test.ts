import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSas, loadConfig } from "../runtime/src/config/load-config";
import { ConfigError, DEFAULTS, renderConfig, validateConfig } from "../runtime/src/config/schema";

const good = {
  source: { blobEndpoint: "https://krsource.blob.east.example.com/", sasEnv: "DR_SOURCE_SAS" },
  target: { blobEndpoint: "https://krtarget.blob.west.example.com/", sasEnv: "DR_TARGET_SAS" },
  containers: ["images", "invoices"],
  stagingDir: "/var/lib/dr-sync/staging",
  stateDir: "/var/lib/dr-sync/state",
  apiVersion: "2017-11-09",
  deleteDestination: true,
  allowInsecureHttp: false,
};

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
}

describe("config schema", () => {
  test("the issue's example config is valid and gets every default", () => {
    const c = validateConfig(good);
    expect(c.apiVersion).toBe("2017-11-09");
    expect(c.transferConcurrency).toBe(DEFAULTS.transferConcurrency);
    expect(c.guards).toEqual({ maxDeletePercent: 50, maxDeleteCount: null, maxOverwritePercent: 50, maxOverwriteCount: null, minOverwritesForPercent: 10 });
    expect(c.versionsContainer).toBe("dr-sync-versions");
    expect(c.target.cloud).toBe("azure");
    expect(c.retentionDays).toBe(7);
    expect(c.statusContainer).toBe("dr-sync-status");
    expect(c.source.name).toBe("source");
    expect(c.target.name).toBe("target");
  });

  test("apiVersion defaults to 2017-11-09 when absent", () => {
    const { apiVersion: _a, ...rest } = good;
    expect(validateConfig(rest).apiVersion).toBe("2017-11-09");
  });

  const rejected: [Record<string, unknown>, RegExp][] = [
    [{ ...good, extra: 1 }, /extra is not a known key/],
    [{ ...good, source: { ...good.source, sas: "x" } }, /source\.sas is not a known key/],
    [{ ...good, source: { ...good.source, blobEndpoint: "http://krsource.blob.east.example.com/" } }, /source\.blobEndpoint must use https:\/\//],
    [{ ...good, allowInsecureHttp: true, target: { ...good.target, blobEndpoint: "http://10.0.0.5/" } }, /target\.blobEndpoint may use http:\/\/ only on a loopback host/],
    [{ ...good, source: { ...good.source, blobEndpoint: "not a url" } }, /source\.blobEndpoint must be a URL/],
    [{ ...good, source: { ...good.source, blobEndpoint: "https://a.example.com/?sig=abc" } }, /source\.blobEndpoint must not carry a query/],
    [{ ...good, target: { ...good.target, sasEnv: "1BAD" } }, /target\.sasEnv must name an environment variable/],
    [{ ...good, containers: [] }, /containers must be a non-empty array/],
    [{ ...good, containers: ["Images"] }, /containers\[0\] must be 3-63 lowercase/],
    [{ ...good, containers: ["images", "images"] }, /containers\[1\] repeats "images"/],
    [{ ...good, stagingDir: "relative/path" }, /stagingDir must be an absolute path/],
    [{ ...good, stateDir: "/" }, /stateDir must not be the root folder/],
    [{ ...good, stateDir: "/var/lib/dr-sync/staging/state" }, /must not contain each other/],
    [{ ...good, apiVersion: "latest" }, /apiVersion must be a service version/],
    [{ ...good, deleteDestination: "yes" }, /deleteDestination must be true or false/],
    [{ ...good, transferConcurrency: 0 }, /transferConcurrency must be a whole number from 1 to 256/],
    [{ ...good, blockSizeMiB: 101 }, /blockSizeMiB must be a whole number from 1 to 100/],
    [{ ...good, guards: { maxDeletePercent: 150 } }, /guards\.maxDeletePercent must be a number from 0 to 100/],
    [{ ...good, guards: { maxDeleteCount: -1 } }, /guards\.maxDeleteCount must be a whole number/],
    [{ ...good, guards: { maxDelete: 1 } }, /guards\.maxDelete is not a known key/],
    [{ ...good, guards: { maxOverwritePercent: 101 } }, /guards\.maxOverwritePercent must be a number from 0 to 100/],
    [{ ...good, guards: { maxOverwriteCount: 1.5 } }, /guards\.maxOverwriteCount must be a whole number/],
    [{ ...good, guards: { minOverwritesForPercent: -1 } }, /guards\.minOverwritesForPercent must be a whole number/],
    [{ ...good, target: { ...good.target, cloud: "aws" } }, /target\.cloud must be "azure-stack-hub" or "azure"/],
    [{ ...good, versionsContainer: "Versions!" }, /versionsContainer must be a container name or null/],
    [{ ...good, versionsContainer: good.containers[0] }, /versionsContainer ".*" must not be one of the replicated containers or the status container/],
    [{ ...good, retry: { maxTries: 0 } }, /retry\.maxTries must be a whole number from 1 to 20/],
    [{ ...good, retentionDays: -1 }, /retentionDays must be a whole number from 0 to 3650/],
    [{ ...good, statusContainer: "images" }, /statusContainer "images" must not be one of the replicated containers/],
    [{ ...good, target: { ...good.target, blobEndpoint: good.source.blobEndpoint } }, /must differ/],
    [{ ...good, rpoObjectiveMinutes: 0 }, /rpoObjectiveMinutes must be a whole number/],
  ];
  it.each(rejected.map(([raw, m]) => [m.source.replace(/\\/g, ""), raw, m] as const))("reports: %s", (_label, raw, message) => {
    expect(problems(raw).join("\n")).toMatch(message);
  });

  test("every problem is reported at once", () => {
    const p = problems({ ...good, containers: "images", stagingDir: 3, transferConcurrency: "many" });
    expect(p).toHaveLength(3);
  });

  test("a non-object config names what was expected", () => {
    expect(problems([1, 2])).toEqual(["the config must be a JSON object"]);
  });

  test("renderConfig refuses to render a config the runtime would reject", () => {
    expect(() => renderConfig({ ...good, containers: [] })).toThrow(ConfigError);
    expect(JSON.parse(renderConfig(good))).toEqual(good);
  });
});

describe("loading a config file", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const now = new Date("2026-11-25T00:00:00Z");
  const sas = (sp: string, se = "2027-01-01T00:00:00Z") => `?sv=2017-11-09&ss=b&srt=sco&sp=${sp}&se=${se}&spr=https&sig=c2VjcmV0c2lnbmF0dXJl`;
  const file = join(dir, "c.json");
  writeFileSync(file, JSON.stringify(good), { mode: 0o600 });

  test("reads the SAS tokens from the named variables, without the leading ?", async () => {
    const l = await loadConfig(file, { DR_SOURCE_SAS: sas("rl"), DR_TARGET_SAS: sas("rwdlac") }, now);
    expect(l.sourceSas.startsWith("sv=")).toBe(true);
    expect(l.warnings).toEqual([]);
  });

  test("a missing variable names the key and the variable, exit-code-2 error", async () => {
    await expect(loadConfig(file, { DR_SOURCE_SAS: sas("rl") }, now)).rejects.toThrow(/target\.sasEnv: environment variable DR_TARGET_SAS is not set/);
  });

  test("bad JSON names the file", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ nope");
    await expect(loadConfig(bad, {}, now)).rejects.toThrow(/invalid config .*bad\.json:\n  - not valid JSON/);
  });

  test("a missing file names the file", async () => {
    await expect(loadConfig(join(dir, "none.json"), {}, now)).rejects.toThrow(/none\.json:\n  - cannot read the config file: ENOENT/);
  });

  it.each([
    ["source", "rl", "rl", []],
    ["source", "r", "rl", [/lacks list \(l\)/]],
    ["target", "rl", "rlwcd", [/lacks write \(w\), create \(c\), delete \(d\)/]],
    ["target", "rwdlac", "rlwcd", []],
  ])("%s SAS with sp=%s against needed %s", (side, sp, needed, expected) => {
    const out = checkSas(side, "V", sas(sp), needed, now, []);
    expect(out).toHaveLength(expected.length);
    expected.forEach((m, i) => expect(out[i]).toMatch(m));
  });

  test("an expired SAS is refused before any request, and the token is not echoed", () => {
    const token = sas("rl", "2026-01-01T00:00:00Z");
    const out = checkSas("source", "DR_SOURCE_SAS", token, "rl", now, []);
    expect(out[0]).toMatch(/expired at 2026-01-01T00:00:00Z/);
    expect(out.join()).not.toContain("c2VjcmV0c2lnbmF0dXJl");
  });

  test("a SAS expiring within a week is a warning", () => {
    const warnings: string[] = [];
    checkSas("target", "V", sas("rwdlac", "2026-11-28T00:00:00Z"), "rlwcd", now, warnings);
    expect(warnings[0]).toMatch(/expires at 2026-11-28T00:00:00Z, within 7 days/);
  });

  test("an account key instead of a SAS is refused", () => {
    expect(checkSas("source", "V", "bm90YXNhcw==", "rl", now, [])[0]).toMatch(/does not look like a SAS token/);
  });
});
