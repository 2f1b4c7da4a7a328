import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
  readonly port: number;
  readonly dataDir: string;
  /** The Azurite process while it runs (the benchmark reads its CPU time), else undefined. */
  readonly pid: number | undefined;
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
}

const AZURITE_BIN = require.resolve("azurite/dist/src/blob/main.js");

export async function startLocalSites(opts: StartOptions = {}): Promise<LocalSites> {
  const [srcName, dstName] = opts.accounts ?? ["source", "target"];
  const keys = { [srcName]: randomBytes(32).toString("base64"), [dstName]: randomBytes(32).toString("base64") };
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "drsync-azurite-"));
  let proc: ChildProcess | undefined;
  let port = 0;

  const launch = async (): Promise<void> => {
    const args = [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--disableTelemetry", "--silent"];
    // Azurite refuses a location together with in-memory persistence.
    args.push(...(opts.inMemory ? ["--inMemoryPersistence"] : ["--location", dataDir]));
    const child = spawn(process.execPath, args, {
      env: { ...process.env, AZURITE_ACCOUNTS: `${srcName}:${keys[srcName]};${dstName}:${keys[dstName]}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc = child;
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30s: ${out}`)), 30000);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
      child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`Azurite exited with ${code}: ${out}`)); });
    });
    child.stdout!.resume();
    child.stderr!.resume();
  };

  const halt = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
      setTimeout(() => p.kill("SIGKILL"), 5000).unref();
    });
  };

  await launch();
  const site = (account: string): LocalSite => {
    const key = keys[account];
    const cred = new StorageSharedKeyCredential(account, key);
    const endpoint = () => `http://127.0.0.1:${port}/${account}/`;
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
    get port() { return port; },
    get pid() { return proc?.pid; },
    dataDir,
    pause: halt,
    resume: launch,
    async stop() {
      await halt();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
