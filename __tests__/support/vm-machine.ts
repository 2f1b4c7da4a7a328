/**
 * A stand-in for the intermediary VM on this machine: the cached Debian rootfs booted with `systemd-nspawn --boot`,
 * a blank file on a loop device as its staging data disk, and a small stand-in for udev that gives the disk the
 * names Azure's udev rules and udev's own persistent-storage rules give it (`/dev/disk/azure/scsi1/lun<N>`,
 * `/dev/disk/by-label/<label>`); inside a container udev does not run.
 *
 * Everything a run creates lives under one folder of VM_WORK_ROOT that records its owner's pid, so a run killed
 * half-way (container still up, loop device still attached) is cleaned up by the next one.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const VM_WORK_ROOT = "/var/tmp/stackhub-dr-vm";
const ROOTFS_SCRIPT = resolve(__dirname, "../../scripts/vm-rootfs/build.sh");
const PATH_IN_VM = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Why this machine cannot boot the VM stand-in, or undefined when it can. */
export function vmBootUnavailable(): string | undefined {
  if (process.platform !== "linux") return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "needs root (systemd-nspawn and loop devices)";
  const missing = ["systemd-nspawn", "nsenter", "losetup", "blkid", "mkfs.ext4", "debootstrap", "openssl"]
    .filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
  if (missing.length) return `missing ${missing.join(", ")} (apt-get install systemd-container debootstrap util-linux e2fsprogs openssl)`;
  return undefined;
}

/** The cached rootfs (built on first use: about 1-2 minutes), and how long getting it took. */
export function vmRootfs(): { path: string; seconds: number } {
  const started = Date.now();
  const out = execFileSync(ROOTFS_SCRIPT, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 15 * 60_000 });
  return { path: out.trim().split("\n").pop()!, seconds: (Date.now() - started) / 1000 };
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function readPid(file: string): number | undefined {
  const n = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : NaN;
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

/** Stops what a dead run left behind: its container, its mounts, its loop devices, its folder. */
export function reapLeftovers(): string[] {
  if (!existsSync(VM_WORK_ROOT)) return [];
  const reaped: string[] = [];
  for (const entry of readdirSync(VM_WORK_ROOT)) {
    const dir = join(VM_WORK_ROOT, entry);
    const owner = readPid(join(dir, "owner.pid"));
    if (owner !== undefined && owner !== process.pid && alive(owner)) continue;
    teardownDir(dir);
    reaped.push(dir);
  }
  return reaped;
}

/** Pids of processes whose root is inside `dir` (a container's init and everything in it). */
function processesRootedIn(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (readlinkSync(`/proc/${p}/root`).startsWith(dir + "/")) pids.push(Number(p));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

function teardownDir(dir: string): void {
  // Processes a run recorded (systemd-nspawn, Azurite), when they are still the ones it started.
  for (const f of existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".pid") && n !== "owner.pid") : []) {
    const pid = readPid(join(dir, f));
    if (pid === undefined || !alive(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) continue;
      process.kill(-pid, "SIGKILL");
    } catch {
      try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    }
  }
  // A container whose nspawn died leaves its init running; killing a pid namespace's init ends all of it.
  for (let i = 0; i < 50; i++) {
    const left = processesRootedIn(dir);
    if (!left.length) break;
    for (const pid of left) { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } }
    spawnSync("sleep", ["0.1"]);
  }
  // Mounts below the folder, deepest first (a mount of the staging disk inside a container that died with it).
  const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]).filter((m) => m && m.startsWith(dir + "/"));
  for (const m of mounts.sort().reverse()) spawnSync("umount", ["-l", m]);
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".img"))) {
      const listed = spawnSync("losetup", ["-j", join(dir, f)], { encoding: "utf8" }).stdout;
      for (const line of listed.split("\n").filter(Boolean)) spawnSync("losetup", ["-d", line.split(":")[0]]);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface StagingDisk {
  /** The loop device on the host, e.g. /dev/loop3. */
  readonly loop: string;
  /** Its name inside the VM, e.g. /dev/sdc (what readlink of the LUN path gives). */
  readonly node: string;
  readonly lun: number;
}

export interface MachineOptions {
  /** The cached rootfs; copied, never booted itself. */
  readonly rootfs: string;
  /** cloud-init's NoCloud seed: the user data (custom_data, decoded) and the instance id. */
  readonly userData: string;
  readonly instanceId: string;
  /** Lines appended to the VM's /etc/hosts (the stand-in for the stamp's DNS). */
  readonly hosts?: string;
  /** PEM of a CA the VM's image trusts (the stand-in for the stamp's certificate authority). */
  readonly trustedCa?: string;
}

/** One VM stand-in: a copy of the rootfs, booted and rebooted, with staging disks attached while it runs. */
export class Machine {
  readonly dir: string;
  readonly root: string;
  readonly name: string;
  private nspawn?: ChildProcess;
  private leader?: number;
  private disks: { disk: StagingDisk; devName: string }[] = [];
  private udevTimer?: NodeJS.Timeout;

  private constructor(dir: string) {
    this.dir = dir;
    this.root = join(dir, "rootfs");
    this.name = `drvm-${process.pid}-${Date.now().toString(36)}`.slice(0, 60);
  }

  /** Copies the rootfs and writes the seed; does not boot. */
  static create(opts: MachineOptions): Machine {
    mkdirSync(VM_WORK_ROOT, { recursive: true });
    const m = new Machine(join(VM_WORK_ROOT, `run-${process.pid}-${Date.now().toString(36)}`));
    mkdirSync(m.dir, { recursive: true });
    writeFileSync(join(m.dir, "owner.pid"), String(process.pid));
    execFileSync("cp", ["-a", "--reflink=auto", opts.rootfs, m.root]);
    const seed = join(m.root, "var/lib/cloud/seed/nocloud");
    mkdirSync(seed, { recursive: true });
    writeFileSync(join(seed, "user-data"), opts.userData);
    writeFileSync(join(seed, "meta-data"), `instance-id: ${opts.instanceId}\nlocal-hostname: dr-sync-vm\n`);
    const hosts = join(m.root, "etc/hosts");
    if (opts.hosts) writeFileSync(hosts, (existsSync(hosts) ? readFileSync(hosts, "utf8") : "127.0.0.1 localhost\n") + opts.hosts);
    if (opts.trustedCa) {
      writeFileSync(join(m.root, "usr/local/share/ca-certificates/stackhub-dr-test-ca.crt"), opts.trustedCa);
      execFileSync("chroot", [m.root, "update-ca-certificates", "--fresh"], { stdio: "ignore" });
    }
    return m;
  }

  /** Boots until systemd answers and cloud-init is done; returns systemd's state then. */
  async boot(timeoutMs = 120_000): Promise<string> {
    const log = openSync(join(this.dir, "nspawn.log"), "a");
    // No private network: the VM shares this machine's loopback, where the storage stand-in listens.
    const child = spawn("systemd-nspawn", [
      "--boot", "--directory", this.root, "--machine", this.name, "--register=no", "--keep-unit",
      "--console=passive", "--link-journal=no",
    ], { detached: true, stdio: ["ignore", log, log] });
    closeSync(log);
    this.nspawn = child;
    writeFileSync(join(this.dir, "nspawn.pid"), String(child.pid));
    child.on("exit", () => { this.leader = undefined; });
    const deadline = Date.now() + timeoutMs;
    while (this.leader === undefined) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited with ${child.exitCode}: ${this.log()}`);
      if (Date.now() > deadline) throw new Error(`the container did not start: ${this.log()}`);
      this.leader = this.findLeader(child.pid!);
      if (this.leader === undefined) await sleep(100);
    }
    this.startUdevStandIn();
    // Not `is-system-running --wait`: a unit still waiting for a late data disk keeps the boot "starting".
    let state = "";
    while (!["running", "degraded", "starting"].includes(state)) {
      if (Date.now() > deadline) throw new Error(`systemd in the VM did not come up (state "${state}"): ${this.log()}`);
      await sleep(300);
      state = (await this.exec(["systemctl", "is-system-running"], { timeoutMs: 10_000 }).catch(() => ({ stdout: "" }))).stdout.trim();
    }
    await this.exec(["cloud-init", "status", "--wait"], { timeoutMs: Math.max(1000, deadline - Date.now()) });
    return (await this.exec(["systemctl", "is-system-running"])).stdout.trim();
  }

  /** The container's init: the process whose parent is nspawn's inner child and which runs systemd. */
  private findLeader(nspawnPid: number): number | undefined {
    const children = (pid: number): number[] => {
      try {
        return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
          readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
      } catch { return []; }
    };
    for (const pid of children(nspawnPid)) {
      try {
        const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        const nsOwn = readFileSync(`/proc/${pid}/status`, "utf8").match(/^NSpid:\s+\d+\s+(\d+)/m);
        if (comm === "systemd" && nsOwn?.[1] === "1") return pid;
      } catch { /* gone */ }
    }
    return undefined;
  }

  private log(): string {
    const log = join(this.dir, "nspawn.log");
    return existsSync(log) ? readFileSync(log, "utf8").slice(-3000) : "";
  }

  /** Runs a command inside the VM as root (all of its namespaces, its root), with a clean environment. */
  exec(argv: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<ExecResult> {
    if (this.leader === undefined) return Promise.reject(new Error("the VM is not running"));
    const env = Object.entries({ PATH: PATH_IN_VM, LANG: "C.UTF-8", ...(opts.env ?? {}) }).map(([k, v]) => `${k}=${v}`);
    const child = spawn("nsenter", ["--target", String(this.leader), "--all", "--", "env", "-i", ...env, ...argv],
      { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    return new Promise((resolvePromise, reject) => {
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => { stdout += d; });
      child.stderr!.on("data", (d) => { stderr += d; });
      const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`timed out in the VM: ${argv.join(" ")}\n${stderr}`)); }, opts.timeoutMs ?? 60_000);
      child.on("error", (err) => { clearTimeout(timer); reject(err); });
      child.on("close", (code) => { clearTimeout(timer); resolvePromise({ code, stdout, stderr }); });
      // A command that exits without reading its input is not an error of the caller's.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(opts.input);
    });
  }

  /** `bash -c` in the VM; throws with its output when it exits non-zero. */
  async sh(script: string, timeoutMs?: number): Promise<string> {
    const r = await this.exec(["bash", "-c", script], { timeoutMs });
    if (r.code !== 0) throw new Error(`exit ${r.code} in the VM: ${script}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** A new blank file on a loop device; attach it with `attach`. */
  newDisk(name: string, sizeMiB: number): string {
    const img = join(this.dir, `${name}.img`);
    execFileSync("truncate", ["-s", `${sizeMiB}M`, img]);
    return execFileSync("losetup", ["--find", "--show", img], { encoding: "utf8" }).trim();
  }

  /**
   * Attaches a loop device as the data disk at `lun`, as Azure does: the device node appears, then Azure's udev rule
   * makes `/dev/disk/azure/scsi1/lun<N>` point at it. The by-label link follows once the disk carries a label.
   */
  attach(loop: string, lun: number, devName = "sdc"): StagingDisk {
    const { rdev } = statSync(loop);
    const major = Math.floor(rdev / 256) & 0xfff;
    const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    const dev = `${this.hostPath("/dev")}`;
    execFileSync("mknod", ["-m", "0660", `${dev}/${devName}`, "b", String(major), String(minor)]);
    mkdirSync(`${dev}/disk/azure/scsi1`, { recursive: true });
    symlinkSync(`../../../${devName}`, `${dev}/disk/azure/scsi1/lun${lun}`);
    const disk = { loop, node: `/dev/${devName}`, lun };
    this.disks.push({ disk, devName });
    return disk;
  }

  /** Where a path of the running VM is, seen from this machine. */
  hostPath(path: string): string {
    if (this.leader === undefined) throw new Error("the VM is not running");
    return `/proc/${this.leader}/root${path}`;
  }

  /** udev's persistent-storage rule for labels, for the attached disks: /dev/disk/by-label/<label>. */
  private startUdevStandIn(): void {
    this.udevTimer = setInterval(() => {
      if (this.leader === undefined) return;
      for (const { disk, devName } of this.disks) {
        const label = spawnSync("blkid", ["-o", "value", "-s", "LABEL", disk.loop], { encoding: "utf8" }).stdout.trim();
        if (!label) continue;
        try {
          const dir = this.hostPath("/dev/disk/by-label");
          mkdirSync(dir, { recursive: true });
          if (!existsSync(join(dir, label))) symlinkSync(`../../${devName}`, join(dir, label));
        } catch { /* the VM is going down */ }
      }
    }, 300);
  }

  /** Shuts the VM down (systemd's own poweroff), killing it if it does not stop in time. Disks stay attached to the host. */
  async shutdown(timeoutMs = 60_000): Promise<void> {
    clearInterval(this.udevTimer);
    const child = this.nspawn;
    this.nspawn = undefined;
    const disks = this.disks;
    this.disks = [];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    // nspawn turns SIGTERM into an orderly poweroff of the container's systemd.
    child.kill("SIGTERM");
    const timer = setTimeout(() => { try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ } }, timeoutMs);
    await exited;
    clearTimeout(timer);
    this.leader = undefined;
    this.pendingDisks = disks.map((d) => d.disk);
  }

  /** Disks that were attached before the last shutdown, to attach again after the next boot. */
  pendingDisks: StagingDisk[] = [];

  /** Stops everything this machine created, whatever state it is in. */
  async destroy(): Promise<void> {
    await this.shutdown(20_000).catch(() => undefined);
    teardownDir(this.dir);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value (not undefined), or throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(everyMs);
  }
}
