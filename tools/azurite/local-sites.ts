import { ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, BlobServiceClient, ContainerClient,
  generateAccountSASQueryParameters, newPipeline, SASProtocol, StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { apiVersionPolicy } from "../../runtime/src/storage/api-version-policy";

/**
 * Two storage sites on one machine: one Azurite blob service on a random loopback port, with two accounts
 * (`source` and `target`, from AZURITE_ACCOUNTS). Telemetry is off and the API-version check stays on.
 * Used by the tests, the local drill and the benchmark.
 */
export interface LocalSite {
  readonly account: string;
  /** Path-style endpoint with a trailing slash, e.g. `http://127.0.0.1:41234/source/`. */
  readonly blobEndpoint: string;
  readonly key: string;
  /** An account SAS (service b, resource types s/c/o) with the given permissions, signed as version 2017-11-09. */
  sas(permissions?: string, opts?: { expiresInMinutes?: number; startsInMinutes?: number; version?: string }): string;
  /** A client with the account key, for seeding and checking; it pins x-ms-version 2017-11-09 too. */
  service(): BlobServiceClient;
  container(name: string): ContainerClient;
}

export interface LocalSites {
  readonly source: LocalSite;
  readonly target: LocalSite;
  /** The (source's) Azurite port. With `separate`, the target's is `targetPort`. */
  readonly port: number;
  /** The target's Azurite port: `port` unless the sites are `separate`. */
  readonly targetPort: number;
  readonly dataDir: string;
  /** The Azurite process while it runs (the benchmark reads its CPU time), else undefined. */
  readonly pid: number | undefined;
  /** Every Azurite process running for these sites (one, or two when `separate`). */
  readonly pids: readonly number[];
  /** Stops the service; data stays in dataDir until `stop()`. */
  pause(): Promise<void>;
  /** Starts the service again on the same port and data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep the blobs in memory instead of a folder (data is lost on `pause()`). @default false */
  readonly inMemory?: boolean;
  /** Folder for Azurite's data. @default a new temp folder, removed by stop() */
  readonly dataDir?: string;
  /** Accounts to create. @default ["source", "target"] */
  readonly accounts?: readonly [string, string];
  /**
   * One Azurite process per site (data in `<dataDir>/source` and `<dataDir>/target`), as two stamps have their own
   * servers: one Azurite answers the two sites' requests one at a time. The benchmark's default; tests share one.
   * @default false
   */
  readonly separate?: boolean;
  /**
   * Called with each line of Azurite's own access log (morgan's "common" format, one line per request as its
   * response ends, from every Azurite of these sites): the benchmark counts requests so, with nothing between the
   * tools and the service. The log's URLs carry SAS tokens: keep them in memory. @default no access log (`--silent`)
   */
  readonly accessLog?: (line: string) => void;
}

const AZURITE_BIN = require.resolve("azurite/dist/src/blob/main.js");

/** One Azurite blob service process holding `accounts`, restartable on the same port and data. */
class AzuriteProcess {
  private proc: ChildProcess | undefined;
  port = 0;
  constructor(private readonly accounts: Readonly<Record<string, string>>,
    private readonly opts: { inMemory?: boolean; location: string; accessLog?: (line: string) => void }) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async launch(): Promise<void> {
    const args = [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", String(this.port), "--disableTelemetry"];
    if (!this.opts.accessLog) args.push("--silent");
    // Azurite refuses a location together with in-memory persistence.
    if (!this.opts.inMemory) mkdirSync(this.opts.location, { recursive: true });
    args.push(...(this.opts.inMemory ? ["--inMemoryPersistence"] : ["--location", this.opts.location]));
    const child = spawn(process.execPath, args, {
      env: { ...process.env, AZURITE_ACCOUNTS: Object.entries(this.accounts).map(([name, key]) => `${name}:${key}`).join(";") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30s: ${out}`)), 30000);
      const onStart = (d: Buffer) => {
        out += d.toString();
        const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        // Stops reading here: what follows is the access log, when there is one.
        if (m) { clearTimeout(timer); child.stdout!.off("data", onStart); resolve(Number(m[1])); }
      };
      child.stdout!.on("data", onStart);
      child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
      child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`Azurite exited with ${code}: ${out}`)); });
    });
    const log = this.opts.accessLog;
    if (log) {
      let rest = "";
      child.stdout!.on("data", (d: Buffer) => {
        const lines = (rest + d.toString()).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) log(line);
      });
    }
    child.stdout!.resume();
    child.stderr!.resume();
  }

  async halt(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
      setTimeout(() => p.kill("SIGKILL"), 5000).unref();
    });
  }
}

export async function startLocalSites(opts: StartOptions = {}): Promise<LocalSites> {
  const [srcName, dstName] = opts.accounts ?? ["source", "target"];
  const keys = { [srcName]: randomBytes(32).toString("base64"), [dstName]: randomBytes(32).toString("base64") };
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "drsync-azurite-"));
  const services = opts.separate
    ? [new AzuriteProcess({ [srcName]: keys[srcName] }, { inMemory: opts.inMemory, location: join(dataDir, "source"), accessLog: opts.accessLog }),
      new AzuriteProcess({ [dstName]: keys[dstName] }, { inMemory: opts.inMemory, location: join(dataDir, "target"), accessLog: opts.accessLog })]
    : [new AzuriteProcess(keys, { inMemory: opts.inMemory, location: dataDir, accessLog: opts.accessLog })];
  const serviceOf = (account: string) => (opts.separate && account === dstName ? services[1] : services[0]);
  const launch = async () => { await Promise.all(services.map((p) => p.launch())); };
  const halt = async () => { await Promise.all(services.map((p) => p.halt())); };

  await launch();
  const site = (account: string): LocalSite => {
    const key = keys[account];
    const cred = new StorageSharedKeyCredential(account, key);
    const endpoint = () => `http://127.0.0.1:${serviceOf(account).port}/${account}/`;
    const pipeline = newPipeline(cred, { retryOptions: { maxTries: 2 } });
    pipeline.factories.push(apiVersionPolicy("2017-11-09"));
    return {
      account,
      key,
      get blobEndpoint() { return endpoint(); },
      sas(permissions = "rwdlacu", o = {}) {
        const now = Date.now();
        return generateAccountSASQueryParameters({
          permissions: AccountSASPermissions.parse(permissions),
          resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
          services: AccountSASServices.parse("b").toString(),
          startsOn: new Date(now + (o.startsInMinutes ?? -5) * 60000),
          expiresOn: new Date(now + (o.expiresInMinutes ?? 30 * 24 * 60) * 60000),
          protocol: SASProtocol.HttpsAndHttp,
          version: o.version ?? "2017-11-09",
        }, cred).toString();
      },
      service: () => new BlobServiceClient(endpoint(), pipeline),
      container: (name) => new BlobServiceClient(endpoint(), pipeline).getContainerClient(name),
    };
  };
  return {
    source: site(srcName),
    target: site(dstName),
    get port() { return services[0].port; },
    get targetPort() { return serviceOf(dstName).port; },
    get pid() { return services[0].pid; },
    get pids() { return services.map((p) => p.pid).filter((p): p is number => p !== undefined); },
    dataDir,
    pause: halt,
    resume: launch,
    async stop() {
      await halt();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
