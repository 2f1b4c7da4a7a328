/**
 * The VM's texts checked by the tools that will read them: every systemd unit we render by `systemd-analyze verify`
 * (in a scratch root holding the units, stand-ins for the programs they name, and this machine's own system units),
 * every schedule by `systemd-analyze calendar`, the user data by `cloud-init schema`. Warnings count as failures:
 * systemd ignores an unknown key or a bad value with only a warning, and the unit then does something else.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { renderCloudInit } from "../lib/compute/cloud-init";
import { diskUnit, mountUnit, serviceUnit, timerUnit } from "../lib/compute/systemd-units";
import { VM_LAYOUT as L } from "../lib/compute/vm-layout";
import { loadEnvironment } from "../lib/environment/load";
import { envDir, exampleAzure, exampleStackHub } from "./infra-helpers";

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((d) => existsSync(join(d, "sysinit.target")));

const noAnalyze = !has("systemd-analyze") ? "systemd-analyze is not installed (apt-get install systemd)"
  : !SYSTEM_UNITS ? "no system units (sysinit.target) on this machine" : undefined;
const noCloudInit = has("cloud-init") ? undefined : "cloud-init is not installed (apt-get install cloud-init)";
if (noAnalyze) console.warn(`infra-vm-static: systemd checks skipped: ${noAnalyze}`);
if (noCloudInit) console.warn(`infra-vm-static: cloud-init schema check skipped: ${noCloudInit}`);
const withAnalyze = noAnalyze ? describe.skip : describe;
const withCloudInit = noCloudInit ? describe.skip : describe;

/** The units cloud-init and the extension write, by file name. */
function renderedUnits(schedule: string): Record<string, string> {
  return {
    [L.diskUnit]: diskUnit(), [L.mountUnit]: mountUnit(), [L.serviceUnit]: serviceUnit(), [L.timerUnit]: timerUnit(schedule),
  };
}

/** `systemd-analyze verify` of units in a scratch root; every program a unit starts exists there as a stand-in. */
function verify(units: Record<string, string>): { code: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), "vm-units-"));
  try {
    cpSync(SYSTEM_UNITS!, join(root, "usr/lib/systemd/system"), { recursive: true });
    const unitDir = join(root, "etc/systemd/system");
    mkdirSync(unitDir, { recursive: true });
    for (const [name, text] of Object.entries(units)) writeFileSync(join(unitDir, name), text);
    const programs = Object.values(units).flatMap((t) => [...t.matchAll(/^Exec\w+=[-+@!:]*(\/\S+)/gm)].map((m) => m[1]));
    for (const p of programs) {
      mkdirSync(join(root, dirname(p)), { recursive: true });
      writeFileSync(join(root, p), "#!/bin/sh\n");
      chmodSync(join(root, p), 0o755);
    }
    const r = spawnSync("systemd-analyze", ["--root", root, "verify", "--man=no", ...Object.keys(units).map((n) => `/etc/systemd/system/${n}`)], { encoding: "utf8" });
    return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

withAnalyze("systemd-analyze", () => {
  test.each([["the example environments' schedules", [exampleStackHub().schedule, exampleAzure().schedule]], ["a daily time", ["*-*-* 02:30:00 UTC"]]])(
    "verifies every unit we render, with %s, without a warning", (_what, schedules) => {
      for (const schedule of schedules) expect(verify(renderedUnits(schedule))).toEqual({ code: 0, output: "" });
    });

  test("finds a misspelt key and a schedule systemd cannot parse (the check can fail)", () => {
    const broken = renderedUnits("*:0/15 bogus");
    broken[L.serviceUnit] = broken[L.serviceUnit].replace("UMask=", "UMsak=");
    const r = verify(broken);
    expect(r.output).toMatch(/Unknown key.*UMsak/);
    expect(r.output).toMatch(/Failed to parse calendar specification/);
    expect(r.code).not.toBe(0);
  });

  test("the units name only programs that cloud-init writes or the image has", () => {
    const programs = Object.values(renderedUnits("hourly")).flatMap((t) => [...t.matchAll(/^Exec\w+=[-+@!:]*(\/\S+)/gm)].map((m) => m[1]));
    expect([...new Set(programs)].sort()).toEqual([L.nodeBin, L.diskScript, L.fetchScript, "/usr/bin/install"].sort());
  });

  test.each(readdirSync(envDir).filter((f) => f.endsWith(".json")))("the schedule of environments/%s is one systemd accepts", (file) => {
    const env = loadEnvironment(join(envDir, file));
    const r = spawnSync("systemd-analyze", ["calendar", env.schedule], { encoding: "utf8" });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  });
});

withCloudInit("cloud-init schema", () => {
  const check = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "vm-userdata-"));
    try {
      writeFileSync(join(dir, "user-data"), text);
      const r = spawnSync("cloud-init", ["schema", "--config-file", join(dir, "user-data")], { encoding: "utf8" });
      return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test.each([0, 3])("the user data (staging disk at LUN %i) is valid cloud-config", (lun) => {
    const r = check(renderCloudInit({ stagingDiskLun: lun }));
    expect(r).toEqual({ code: 0, output: expect.stringMatching(/^Valid cloud-config/) });
  });

  test("finds a user data that is not (the check can fail)", () => {
    const doc = JSON.parse(renderCloudInit({ stagingDiskLun: 0 }).replace(/^#cloud-config\n/, ""));
    const r = check(`#cloud-config\n${JSON.stringify({ ...doc, runcmd: "systemctl daemon-reload" })}\n`);
    expect(r).toEqual({ code: 1, output: expect.stringMatching(/runcmd: 'systemctl daemon-reload' is not of type 'array'/) });
  });
});
