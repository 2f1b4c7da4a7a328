/**
 * The intermediary VM, booted: what the synthesized stack gives the VM (custom_data through cloud-init's NoCloud
 * datasource, the extension's protected settings run as the CustomScript extension runs them, the artifacts from the
 * artifacts container) on a real systemd (Debian 12 standing in for Ubuntu 22.04, booted by systemd-nspawn), with a
 * loop device as the staging disk and Azurite over HTTPS as both sites. Needs root, systemd-nspawn and debootstrap;
 * elsewhere it is skipped with the reason printed. The steps run in order and share the VM.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { snapshot, seed, manyBlobs } from "./support/harness";
import { applyStorage, artifact, Deployment, protectedSettings, signStackSas, synthEnvironment } from "./support/vm-deploy";
import { EXTENSION_DOWNLOAD_DIR, runCustomScript } from "./support/vm-extension";
import { Machine, reapLeftovers, sleep, VM_WORK_ROOT, vmBootUnavailable, vmRootfs, waitFor } from "./support/vm-machine";
import { startTlsSites, TlsSites } from "./support/vm-sites";
import { VM_LAYOUT as L } from "../lib/compute/vm-layout";

const unavailable = vmBootUnavailable();
if (unavailable) console.warn(`vm-boot.test.ts skipped: ${unavailable}`);
const d = unavailable ? describe.skip : describe;

const STEP = 300_000;
const SOURCE = { account: "exampledrsource", suffix: "east.stackhub.test" };
const TARGET = { account: "exampledrtarget", suffix: "west.stackhub.test" };
const DAY = 24 * 3600_000;

/** example.json pointed at the local sites, with a schedule short enough to watch. */
function environment(overrides: { schedule?: string; generation?: number } = {}): object {
  const raw = JSON.parse(readFileSync(join(__dirname, "..", "environments", "example.json"), "utf8"));
  raw.sites.source.storageEndpointSuffix = SOURCE.suffix;
  raw.sites.target.storageEndpointSuffix = TARGET.suffix;
  raw.schedule = overrides.schedule ?? "*:*:0/15";
  raw.credentials = { generation: overrides.generation ?? 1 };
  return raw;
}

interface UnitRun { invocation: string; result: string; status: string }

/** A token's signature as it is written (percent-encoded) and decoded: what a leak of it would contain. */
function signatures(tokens: Record<string, string>): string[] {
  return Object.values(tokens).flatMap((t) => {
    const raw = /(?:^|&)sig=([^&]+)/.exec(t)![1];
    return [raw, decodeURIComponent(raw)];
  });
}

d("the intermediary VM, booted", () => {
  let work: string;
  let sites: TlsSites;
  let vm: Machine;
  let dep: Deployment;
  let uploaded: Awaited<ReturnType<typeof applyStorage>>;
  let tokens: Record<string, string>;
  let fsUuid: string;
  const timings: Record<string, number> = {};

  const keys = () => ({ [SOURCE.account]: sites.source.key, [TARGET.account]: sites.target.key });
  const settingsFor = (deployment: Deployment, sas: Record<string, string>) => protectedSettings(deployment, sas);
  const unit = async (name: string): Promise<UnitRun & { active: string }> => {
    const out = await vm.sh(`systemctl show ${name} -p InvocationID -p Result -p ExecMainStatus -p ActiveState`);
    const v = Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    return { invocation: v.InvocationID, result: v.Result, status: v.ExecMainStatus, active: v.ActiveState };
  };
  /** The next finished run of dr-sync.service after the one given (by invocation id). */
  const nextRun = (after: string, timeoutMs = 150_000) => waitFor("dr-sync.service did not run", async () => {
    const u = await unit(L.serviceUnit);
    return u.invocation && u.invocation !== after && (u.active === "inactive" || u.active === "failed") ? u : undefined;
  }, timeoutMs, 500);
  const journal = (u: string) => vm.sh(`journalctl -u ${u} -o cat --no-pager`);

  beforeAll(async () => {
    const reaped = reapLeftovers();
    if (reaped.length) console.warn(`vm-boot: cleaned up after an earlier run: ${reaped.join(", ")}`);
    const rootfs = vmRootfs();
    timings.rootfsSeconds = rootfs.seconds;
    mkdirSync(VM_WORK_ROOT, { recursive: true });
    work = join(VM_WORK_ROOT, `deploy-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, "owner.pid"), String(process.pid));
    sites = await startTlsSites(work, SOURCE, TARGET);
    dep = synthEnvironment(environment(), "vmboot", join(work, "gen1"));
    uploaded = await applyStorage(dep, { [SOURCE.account]: sites.source, [TARGET.account]: sites.target });
    tokens = signStackSas(dep, keys(), { start: new Date(Date.now() - 15 * 60_000), expiry: new Date(Date.now() + 37 * DAY) });
    await seed(sites.source, "invoices", manyBlobs(40, "inv"));
    await seed(sites.source, "images", manyBlobs(10, "img", 5000));
    vm = Machine.create({
      rootfs: rootfs.path, userData: dep.userData, instanceId: "i-vmboot-1", hosts: sites.hostsLines, trustedCa: sites.caPem,
    });
  }, 20 * 60_000);

  afterAll(async () => {
    console.log(`vm-boot timings (s): ${JSON.stringify(timings)}`);
    await vm?.destroy();
    await sites?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  test("first boot: cloud-init applies custom_data; the staging disk, attached after boot, is formatted once and mounted", async () => {
    const t0 = Date.now();
    expect(dep.userData.startsWith("#cloud-config\n")).toBe(true);
    // systemd says "starting" until the disk arrives: the disk unit is still waiting for it.
    expect(await vm.boot()).toMatch(/^(starting|running)$/);
    timings.firstBootSeconds = (Date.now() - t0) / 1000;
    await vm.sh("cloud-init status --wait >/dev/null || true");
    const ci = await vm.sh("cloud-init status --long");
    expect(ci).toMatch(/status: done/);
    // The disk arrives a little after boot, as an attachment that lands late.
    await sleep(3000);
    expect(await vm.sh(`systemctl is-active ${L.diskUnit} || true`)).toMatch(/activating/);
    vm.attach(vm.newDisk("staging", 1024), 0);
    await waitFor("the staging disk was not mounted", async () =>
      (await vm.exec(["findmnt", "-n", "-o", "SOURCE,FSTYPE", L.mountPoint])).stdout.trim() || undefined, 90_000);
    expect(await vm.sh(`findmnt -n -o FSTYPE ${L.mountPoint}`)).toBe("ext4\n");
    expect(await vm.sh(`blkid -o value -s LABEL /dev/sdc`)).toBe(`${L.diskLabel}\n`);
    fsUuid = (await vm.sh("blkid -o value -s UUID /dev/sdc")).trim();
    expect(fsUuid).toMatch(/^[0-9a-f-]{36}$/);
    // The service user: a system account without a login shell or home.
    const [, , uid, , , home, shell] = (await vm.sh(`getent passwd ${L.serviceUser}`)).trim().split(":");
    expect(Number(uid)).toBeLessThan(1000);
    expect([home, shell]).toEqual(["/nonexistent", "/usr/sbin/nologin"]);
    expect(await vm.sh(`stat -c '%a %U' ${L.diskScript} ${L.fetchScript} ${L.cliWrapper} /etc/systemd/system/${L.serviceUnit}`))
      .toBe("755 root\n755 root\n755 root\n644 root\n");
    // Nothing runs yet: the extension has not written the config and the SAS file.
    expect(await vm.sh(`systemctl is-enabled ${L.timerUnit} 2>&1 || true`)).not.toMatch(/^enabled/);
    expect((await vm.sh(`systemctl list-units --failed --plain --no-legend`)).trim()).toBe("");
  }, STEP);

  test("a tampered runtime bundle or Node.js binary in the artifacts container is refused and never executed", async () => {
    const marker = "/var/tmp/tampered-artifact-ran";
    const bundle = artifact(uploaded, "dr-sync");
    const node = artifact(uploaded, "node");
    const put = (a: { container: string; name: string }, body: Buffer | string) =>
      sites.source.container(a.container).getBlockBlobClient(a.name).uploadData(Buffer.from(body));
    await put(node, `#!/bin/sh\ntouch ${marker}\n`);
    await put(bundle, `require("fs").writeFileSync("${marker}", "bundle");\n`);
    try {
      const r = await runCustomScript(vm, settingsFor(dep, tokens), 0);
      expect(r.code).not.toBe(0);
      expect(r.scriptStderr).toMatch(/SHA-256 is not the pinned [0-9a-f]{64}; not installed/);
      expect(await vm.sh(`ls -A ${L.libDir}/bin; test ! -e ${L.runtimeJs} && echo no-bundle; test ! -e ${marker} && echo not-run`))
        .toBe("no-bundle\nnot-run\n");
      expect(await vm.sh(`systemctl is-enabled ${L.timerUnit} 2>&1 || true`)).not.toMatch(/^enabled/);
    } finally {
      await put(node, readFileSync(node.file));
      await put(bundle, readFileSync(bundle.file));
    }
  }, STEP);

  test("the extension writes the config, the root-only SAS file, the pins and the timer, and installs the artifacts", async () => {
    const r = await runCustomScript(vm, settingsFor(dep, tokens), 1);
    expect({ code: r.code, stderr: r.scriptStderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(await vm.sh(`stat -c '%n %a %U %G' ${L.etcDir} ${L.sasEnvFile} ${L.configFile} ${L.artifactsEnvFile} ${L.nodeBin} ${L.runtimeJs}`)).toBe([
      `${L.etcDir} 755 root root`, `${L.sasEnvFile} 600 root root`, `${L.configFile} 640 root ${L.serviceUser}`,
      `${L.artifactsEnvFile} 644 root root`, `${L.nodeBin} 755 root root`, `${L.runtimeJs} 644 root root`, "",
    ].join("\n"));
    expect(await vm.sh(`cat ${L.configFile}`)).toBe(dep.stack.pair.renderedConfig);
    const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
    expect(await vm.sh(`sha256sum ${L.nodeBin} ${L.runtimeJs} | cut -d' ' -f1`))
      .toBe(`${sha(artifact(uploaded, "node").file)}\n${sha(artifact(uploaded, "dr-sync").file)}\n`);
    expect(await vm.sh(`systemctl is-enabled ${L.timerUnit}; systemctl is-active ${L.timerUnit}`)).toBe("enabled\nactive\n");
    // The handler keeps its download folder; the script that held the tokens must not stay in it.
    expect(await vm.sh(`ls -A ${EXTENSION_DOWNLOAD_DIR}/1`)).not.toMatch(/script\.sh/);
  }, STEP);

  test("the timer fires, dr-sync runs as the service user and replicates; its journal is JSON lines; status via the wrapper and at the target", async () => {
    const t0 = Date.now();
    const run = await nextRun("");
    timings.firstTimerRunSeconds = (Date.now() - t0) / 1000;
    expect({ result: run.result, status: run.status, journal: run.result === "success" ? "" : await journal(L.serviceUnit) })
      .toEqual({ result: "success", status: "0", journal: "" });
    for (const c of ["invoices", "images"]) {
      expect(await snapshot(sites.target.container(c))).toEqual(await snapshot(sites.source.container(c)));
    }
    const lines = (await journal(L.serviceUnit)).split("\n").filter((l) => l.startsWith("{"));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(await vm.sh(`systemctl show ${L.serviceUnit} -p User --value; systemctl show ${L.serviceUnit} -p UMask --value`)).toBe(`${L.serviceUser}\n0077\n`);
    expect(await vm.sh(`stat -c '%a %U' ${L.stagingDir} ${L.stateDir}`)).toBe(`700 ${L.serviceUser}\n700 ${L.serviceUser}\n`);
    // Every file the run wrote is the service user's alone.
    expect(await vm.sh(`find ${L.stagingDir} ${L.stateDir} \\( ! -user ${L.serviceUser} -o -perm /077 \\) -print`)).toBe("");
    const status = await vm.exec(["sudo", "dr-sync", "status"]);
    expect({ code: status.code, out: status.stdout }).toEqual({ code: 0, out: expect.stringMatching(/recovery point/i) });
    const records = [];
    for await (const b of sites.target.container("dr-sync-status").listBlobsFlat()) records.push(b.name);
    expect(records).toEqual(expect.arrayContaining(["fence.json", expect.stringMatching(/^(?!fence).+\.json$/)]));
  }, STEP);

  test("no secret in the process list, the journal or the unit files", async () => {
    const sigs = signatures(tokens);
    const before = await unit(L.serviceUnit);
    await vm.sh(`systemctl start --no-block ${L.serviceUnit}`);
    const seen: string[] = [];
    for (let i = 0; i < 400; i++) {
      const ps = await vm.sh("ps -eo user:16,args --no-headers");
      seen.push(ps);
      const u = await unit(L.serviceUnit);
      if (u.invocation !== before.invocation && u.active !== "activating") break;
    }
    expect(seen.join("\n")).toMatch(new RegExp(`${L.serviceUser}\\s+${L.nodeBin}.*dr-sync\\.js run`));
    const exposed = await vm.sh(`journalctl -o export --no-pager > /tmp/journal.export; cat /etc/systemd/system/dr-sync* /tmp/journal.export; rm /tmp/journal.export`);
    for (const sig of sigs) {
      expect(seen.join("\n")).not.toContain(sig);
      expect(exposed).not.toContain(sig);
    }
    // The same search finds the VM's tokens where they belong.
    const vmTokens = Object.entries(tokens).filter(([id]) => /_(ReadingSas|WritingSas|ArtifactsSas)_/.test(id));
    expect(vmTokens).toHaveLength(3);
    for (const sig of signatures(Object.fromEntries(vmTokens)).filter((_, i) => i % 2 === 0)) {
      expect(readFileSync(vm.hostPath(L.sasEnvFile), "utf8")).toContain(sig);
    }
  }, STEP);

  test("an installed runtime changed on disk is fetched again before the next run, and the run uses the pinned one", async () => {
    // No timer run in between: the change must meet the check of the run started here.
    await vm.sh(`systemctl stop ${L.timerUnit}`);
    await waitFor("a timer run did not end", async () => ((await unit(L.serviceUnit)).active === "activating" ? undefined : true), 120_000, 500);
    const pinned = await vm.sh(`sha256sum ${L.runtimeJs}`);
    await vm.sh(`echo 'require("fs").writeFileSync("/var/tmp/changed-runtime-ran", "")' >> ${L.runtimeJs}`);
    expect(await vm.sh(`sha256sum ${L.runtimeJs}`)).not.toBe(pinned);
    await vm.sh(`systemctl start ${L.serviceUnit}`);
    expect(await vm.sh(`sha256sum ${L.runtimeJs}; test ! -e /var/tmp/changed-runtime-ran && echo not-run`)).toBe(`${pinned}not-run\n`);
    expect((await unit(L.serviceUnit)).result).toBe("success");
    await vm.sh(`systemctl start ${L.timerUnit}`);
  }, STEP);

  test("day two: rotated SAS tokens take effect on the next run without a reboot, and the old ones are nowhere on disk", async () => {
    const leader = await vm.sh("cat /proc/1/stat | cut -d' ' -f22");
    const oldSigs = signatures(tokens);
    // Regenerating the account keys revokes every token signed with the old ones.
    await sites.rotateKeys();
    // A run the timer started before the rotation may still be going; `start` then joins it, so start until a new one ran.
    const before = await unit(L.serviceUnit);
    let refused = before;
    for (let i = 0; i < 3 && refused.invocation === before.invocation; i++) {
      await vm.sh(`systemctl start ${L.serviceUnit} || true`);
      refused = await unit(L.serviceUnit);
    }
    expect(refused.invocation).not.toBe(before.invocation);
    expect(refused.result).not.toBe("success");
    timings.exitWithRevokedTokens = Number(refused.status);
    expect(await vm.sh(`journalctl -u ${L.serviceUnit} -o cat _SYSTEMD_INVOCATION_ID=${refused.invocation}`)).toMatch(/403|AuthenticationFailed|authenticat/i);

    const rotated = synthEnvironment(environment({ generation: 2 }), "vmboot", join(work, "gen2"));
    const newTokens = signStackSas(rotated, keys(), { start: new Date(Date.now() - 14 * 60_000), expiry: new Date(Date.now() + 38 * DAY) });
    const r = await runCustomScript(vm, settingsFor(rotated, newTokens), 2);
    expect({ code: r.code, stderr: r.code ? r.scriptStderr : "" }).toEqual({ code: 0, stderr: "" });
    expect(await vm.sh(`grep '^DR_SYNC_SAS_GENERATION=' ${L.sasEnvFile}`)).toBe("DR_SYNC_SAS_GENERATION=2\n");

    await seed(sites.source, "invoices", [{ name: "after-rotation.txt", body: "rotated" }]);
    const run = await nextRun((await unit(L.serviceUnit)).invocation);
    expect({ result: run.result, status: run.status }).toEqual({ result: "success", status: "0" });
    expect(await snapshot(sites.target.container("invoices"))).toEqual(await snapshot(sites.source.container("invoices")));
    expect(await vm.sh("cat /proc/1/stat | cut -d' ' -f22")).toBe(leader);

    const search = (sigs: string[]) => vm.sh(`grep -rlaF ${sigs.map((s) => `-e '${s}'`).join(" ")} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null || true; ` +
      `journalctl -o export --no-pager | grep -caF ${sigs.map((s) => `-e '${s}'`).join(" ")} || true`, 120_000);
    expect(await search(oldSigs)).toBe("0\n");
    // The same search finds the tokens in effect, in the SAS file and nowhere else.
    expect(await search(signatures(newTokens))).toBe(`${L.sasEnvFile}\n0\n`);
    tokens = newTokens;
    dep = rotated;
  }, STEP);

  test("a schedule systemd cannot parse fails the extension before it changes anything; the timer keeps running", async () => {
    const files = `${L.sasEnvFile} ${L.configFile} ${L.artifactsEnvFile} /etc/systemd/system/${L.timerUnit}`;
    const before = await vm.sh(`sha256sum ${files}`);
    const bad = synthEnvironment(environment({ generation: 3, schedule: "*:0/15 bogus" }), "vmboot", join(work, "bad-schedule"));
    const r = await runCustomScript(vm, settingsFor(bad, tokens), 3);
    expect(r.code).not.toBe(0);
    expect(r.scriptStderr).toMatch(/schedule "\*:0\/15 bogus"/);
    expect(await vm.sh(`sha256sum ${files}`)).toBe(before);
    expect(await vm.sh(`systemctl is-active ${L.timerUnit}; systemctl show ${L.timerUnit} -p TimersCalendar --value`)).toMatch(/^active\n.*OnCalendar=\*-\*-\* \*:\*:00\/15/);
  }, STEP);

  test("a reboot keeps the staging disk's data (no new format), and Persistent=true catches up a run missed while off", async () => {
    // A daily time a little ahead, deployed like any schedule change; the VM is off when it passes.
    const at = new Date(Date.now() + 40_000);
    const hhmmss = at.toISOString().slice(11, 19);
    const daily = synthEnvironment(environment({ generation: 2, schedule: `*-*-* ${hhmmss} UTC` }), "vmboot", join(work, "daily"));
    const r = await runCustomScript(vm, settingsFor(daily, tokens), 4);
    expect({ code: r.code, stderr: r.code ? r.scriptStderr : "" }).toEqual({ code: 0, stderr: "" });
    const marker = `${Date.now()}-${Math.random()}`;
    await vm.sh(`echo ${marker} > ${L.mountPoint}/reboot-marker`);
    await vm.shutdown();
    while (Date.now() < at.getTime() + 5000) await sleep(1000);

    const t0 = Date.now();
    await seed(sites.source, "images", [{ name: "while-off.bin", body: "missed" }]);
    const boot = vm.boot();
    const disk = vm.pendingDisks[0];
    await waitFor("the VM did not start", async () => { try { vm.hostPath("/dev"); return true; } catch { return undefined; } }, 60_000, 100);
    vm.attach(disk.loop, disk.lun);
    await boot;
    timings.rebootSeconds = (Date.now() - t0) / 1000;
    await waitFor("the staging disk was not mounted again", async () =>
      (await vm.exec(["findmnt", "-n", L.mountPoint])).code === 0 ? true : undefined, 90_000);
    expect((await vm.sh("blkid -o value -s UUID /dev/sdc")).trim()).toBe(fsUuid);
    expect(await vm.sh(`cat ${L.mountPoint}/reboot-marker`)).toBe(`${marker}\n`);
    // The timer's next time is tomorrow: this run is the catch-up of the one missed while the VM was off.
    const run = await nextRun("", 120_000);
    expect({ result: run.result, status: run.status }).toEqual({ result: "success", status: "0" });
    expect(await snapshot(sites.target.container("images"))).toEqual(await snapshot(sites.source.container("images")));
  }, STEP);

  test("a disk that holds another file system is never formatted, and nothing is mounted or run", async () => {
    await vm.shutdown();
    const other = vm.newDisk("other", 256);
    execFileSync("mkfs.ext4", ["-q", "-L", "appdata", other]);
    const sum = () => createHash("sha256").update(readFileSync(other)).digest("hex");
    const beforeSum = sum();
    const boot = vm.boot();
    await waitFor("the VM did not start", async () => { try { vm.hostPath("/dev"); return true; } catch { return undefined; } }, 60_000, 100);
    vm.attach(other, 0);
    await boot;
    await waitFor("the disk unit did not give up", async () =>
      (await unit(L.diskUnit)).active === "failed" ? true : undefined, 90_000);
    expect(await journal(L.diskUnit)).toMatch(/is not labelled drsync-staging; not touching it/);
    expect((await vm.exec(["findmnt", "-n", L.mountPoint])).code).not.toBe(0);
    expect(await vm.sh(`systemctl start ${L.serviceUnit} 2>&1 || true`)).toMatch(/dependency/i);
    await vm.shutdown();
    expect(sum()).toBe(beforeSum);
  }, STEP);
});
