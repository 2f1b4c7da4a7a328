/**
 * The one schema of dr-sync's config file. The runtime validates with it; the CDKTF constructs render the VM's
 * config with it (`renderConfig`), so the file the VM gets is always one the runtime accepts.
 *
 * Pure: no I/O here. Reading the file and the SAS variables is `load-config.ts`.
 */

/** One storage site, as the runtime sees it. */
export interface SiteConfig {
  /** Blob service endpoint, e.g. `https://krsource.blob.east.example.com/`, or for Azurite `http://127.0.0.1:10000/source/`. */
  readonly blobEndpoint: string;
  /** Name of the environment variable that holds this site's SAS token (with or without a leading `?`). */
  readonly sasEnv: string;
  /** A label for reports and logs.
   *  @default "source" / "target" */
  readonly name?: string;
  /** The cloud the site runs on, for the limits of what it can hold: blob names up to 880 characters (1,760 bytes)
   *  on Azure Stack Hub, 1,024 on public Azure. A source blob the target cannot hold is refused by name.
   *  @default "azure" */
  readonly cloud?: "azure-stack-hub" | "azure";
}

/** Limits on destructive changes in one hop of one container. Emptying a non-empty blob counts as deleting it. */
export interface GuardsConfig {
  /** Deletions allowed in one hop, as a share (percent) of the destination container's blobs, before the hop stops.
   *  @default 50 */
  readonly maxDeletePercent?: number;
  /** Deletions allowed in one hop, as a count. `null` means no count limit (the percentage still applies).
   *  @default null */
  readonly maxDeleteCount?: number | null;
  /** Blobs whose content one hop may replace with other content, as a share (percent) of the destination
   *  container's blobs, before the hop stops (the mass-change guard: ransomware, a bad deploy). Changes of
   *  properties or metadata alone do not count.
   *  @default 50 */
  readonly maxOverwritePercent?: number;
  /** The same as a count. `null` means no count limit.
   *  @default null */
  readonly maxOverwriteCount?: number | null;
  /** Overwrites up to this many in one hop never trip `maxOverwritePercent`: a container of a few blobs that all
   *  change every cycle (a status file, a small index) would otherwise stop every run. 0 applies the share always.
   *  @default 10 */
  readonly minOverwritesForPercent?: number;
}

/** Retries of requests that fail for transient reasons (500, 503, timeouts, resets). */
export interface RetryConfig {
  /** Attempts per request, the first included.
   *  @default 5 */
  readonly maxTries?: number;
  /** First back-off delay; it doubles per attempt, with jitter, up to `maxRetryDelayMs`.
   *  @default 500 */
  readonly retryDelayMs?: number;
  /** @default 30000 */
  readonly maxRetryDelayMs?: number;
  /** Timeout of one attempt; a stalled response is abandoned and retried after this.
   *  @default 120 */
  readonly tryTimeoutSeconds?: number;
}

/**
 * One shard of a pair split across several intermediaries (docs/scale-out.md). Each shard replicates its own
 * containers whole (rendezvous hashing of the container name) and its own top-level prefixes of the containers
 * named in `split`, with its own lock, staging, state and status record.
 */
export interface ShardConfig {
  /** Shards the pair is split into, 1 to 1000. */
  readonly count: number;
  /** This intermediary's shard, 0 to `count` − 1. `--shard i/N` on the command line overrides it.
   *  @default none: `indexFrom` or `--shard` must give it */
  readonly index?: number;
  /** Where the index comes from instead: `hostname`, the last 6 characters of the host name read as base 36 (a VM
   *  scale set instance's computer name ends in its instance ID so, and keeps it across reimaging).
   *  @default none */
  readonly indexFrom?: "hostname";
  /** Containers too big for one shard: split by top-level prefix (the part of a name before its first `/`)
   *  instead of assigned whole. Each shard lists them once at the top level, then only its own prefixes.
   *  @default [] */
  readonly split?: readonly string[];
}

/** The config file, as written by an operator or rendered by the constructs. */
export interface DrSyncConfig {
  /** Where data is read from. During failback this is the DR site. */
  readonly source: SiteConfig;
  /** Where data is written to. */
  readonly target: SiteConfig;
  /** Containers to replicate (same names on both sides). Missing target containers are created. */
  readonly containers: readonly string[];
  /** Absolute path of the staging folder (the recipe's local folder); holds the staged copies and the retention area. */
  readonly stagingDir: string;
  /** Absolute path of the state folder: lock, last-run status, run history. */
  readonly stateDir: string;
  /** `x-ms-version` sent with every request. Azure Stack Hub accepts 2017-11-09.
   *  @default "2017-11-09" */
  readonly apiVersion?: string;
  /** Propagate deletions (within the guards). When false, blobs removed from the source stay at the target.
   *  @default true */
  readonly deleteDestination?: boolean;
  /** Accept `http://` endpoints on loopback hosts (tests, local drills). Other hosts always need `https://`.
   *  @default false */
  readonly allowInsecureHttp?: boolean;
  /** Blobs transferred at once.
   *  @default 32 */
  readonly transferConcurrency?: number;
  /** Ranges or blocks of one large blob transferred at once.
   *  @default 4 */
  readonly blockConcurrency?: number;
  /** Size of the blocks uploaded for large blobs, in MiB (the 2017-11-09 block limit is 100). Ranges are downloaded in
   *  this size up to 4 MiB (the largest range the service sends an MD5 of), and a blob received in ranges is sent in
   *  blocks of those ranges with their MD5s (unless that would take more than 50,000 blocks, over 195 GiB).
   *  @default 8 */
  readonly blockSizeMiB?: number;
  /** Blobs up to this size move in one request (Put Blob / one GET); larger ones in ranges and blocks.
   *  @default 8 */
  readonly singleShotMaxMiB?: number;
  /** @default { maxDeletePercent: 50, maxDeleteCount: null, maxOverwritePercent: 50, maxOverwriteCount: null, minOverwritesForPercent: 10 } */
  readonly guards?: GuardsConfig;
  /** Days a deleted or overwritten staged copy is kept in the retention area before it is purged.
   *  @default 7 */
  readonly retentionDays?: number;
  /** @default { maxTries: 5, retryDelayMs: 500, maxRetryDelayMs: 30000, tryTimeoutSeconds: 120 } */
  readonly retry?: RetryConfig;
  /** Container at the target where each run writes a small status record (recovery point, counts), so the DR site
   *  can be monitored without the VM. `null` turns it off.
   *  @default "dr-sync-status" */
  readonly statusContainer?: string | null;
  /** The recovery point objective, in minutes; `status` says whether the last recovery point is within it.
   *  `null`: no objective.
   *  @default null */
  readonly rpoObjectiveMinutes?: number | null;
  /** Container at the target that keeps, for `retentionDays`, every version a push overwrites or deletes there
   *  (server-side copies, with an index), so `restore --as-of` can put a container back to any moment without the
   *  VM's disk. `null` turns point-in-time recovery off.
   *  @default "dr-sync-versions" */
  readonly versionsContainer?: string | null;
  /** This intermediary's shard of the pair, when several replicate it together.
   *  @default none: one intermediary replicates everything, as without the key */
  readonly shard?: ShardConfig;
}

/** A config with every default filled in. */
export interface ResolvedConfig {
  readonly source: Required<SiteConfig>;
  readonly target: Required<SiteConfig>;
  readonly containers: readonly string[];
  readonly stagingDir: string;
  readonly stateDir: string;
  readonly apiVersion: string;
  readonly deleteDestination: boolean;
  readonly allowInsecureHttp: boolean;
  readonly transferConcurrency: number;
  readonly blockConcurrency: number;
  readonly blockSizeMiB: number;
  readonly singleShotMaxMiB: number;
  readonly guards: {
    readonly maxDeletePercent: number; readonly maxDeleteCount: number | null;
    readonly maxOverwritePercent: number; readonly maxOverwriteCount: number | null; readonly minOverwritesForPercent: number;
  };
  readonly retentionDays: number;
  readonly retry: Required<RetryConfig>;
  readonly statusContainer: string | null;
  readonly rpoObjectiveMinutes: number | null;
  readonly versionsContainer: string | null;
  readonly shard: { readonly count: number; readonly index: number | null; readonly indexFrom: "hostname" | null; readonly split: readonly string[] } | null;
}

export const DEFAULT_API_VERSION = "2017-11-09";

export const DEFAULTS = {
  apiVersion: DEFAULT_API_VERSION,
  deleteDestination: true,
  allowInsecureHttp: false,
  transferConcurrency: 32,
  blockConcurrency: 4,
  blockSizeMiB: 8,
  singleShotMaxMiB: 8,
  guards: { maxDeletePercent: 50, maxDeleteCount: null, maxOverwritePercent: 50, maxOverwriteCount: null, minOverwritesForPercent: 10 },
  retentionDays: 7,
  retry: { maxTries: 5, retryDelayMs: 500, maxRetryDelayMs: 30000, tryTimeoutSeconds: 120 },
  statusContainer: "dr-sync-status",
  rpoObjectiveMinutes: null,
  versionsContainer: "dr-sync-versions",
} as const;

/** Thrown with every problem found in a config, each naming its key. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[], readonly file?: string) {
    super(`${file ? `invalid config ${file}` : "invalid config"}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const TOP_KEYS = new Set([
  "source", "target", "containers", "stagingDir", "stateDir", "apiVersion", "deleteDestination", "allowInsecureHttp",
  "transferConcurrency", "blockConcurrency", "blockSizeMiB", "singleShotMaxMiB", "guards", "retentionDays", "retry",
  "statusContainer", "rpoObjectiveMinutes", "versionsContainer", "shard", "$schema", "comment",
]);
const SHARD_KEYS = new Set(["count", "index", "indexFrom", "split"]);
const SITE_KEYS = new Set(["blobEndpoint", "sasEnv", "name", "cloud"]);
const GUARD_KEYS = new Set(["maxDeletePercent", "maxDeleteCount", "maxOverwritePercent", "maxOverwriteCount", "minOverwritesForPercent"]);
const RETRY_KEYS = new Set(["maxTries", "retryDelayMs", "maxRetryDelayMs", "tryTimeoutSeconds"]);

/** Container names: 3-63 characters, lowercase letters, digits and single hyphens, starting and ending alphanumeric. */
export function isValidContainerName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(name);
}

/**
 * Checks a list of container names (non-empty, valid, no repeats) and returns the valid ones; problems are
 * pushed to `errors` under `key`. Shared with the environment files of the constructs.
 */
export function checkContainerList(raw: unknown, key: string, errors: string[]): string[] {
  const containers: string[] = [];
  if (!Array.isArray(raw) || raw.length === 0) {
    errors.push(`${key} must be a non-empty array of container names (got ${show(raw)})`);
    return containers;
  }
  raw.forEach((c, i) => {
    if (typeof c !== "string" || !isValidContainerName(c)) {
      errors.push(`${key}[${i}] must be 3-63 lowercase letters, digits or single hyphens (got ${show(c)})`);
    } else if (containers.includes(c)) {
      errors.push(`${key}[${i}] repeats "${c}"`);
    } else containers.push(c);
  });
  return containers;
}

const LOOPBACK_HOSTS = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** True for hosts that never leave the machine; only those may use `http://` (with `allowInsecureHttp`). */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.test(host);
}

/**
 * Validates a parsed config file and fills in defaults. Collects every problem, then throws one `ConfigError`,
 * so the operator fixes the file in one pass.
 */
export function validateConfig(raw: unknown, file?: string): ResolvedConfig {
  const errors: string[] = [];
  if (!isObject(raw)) throw new ConfigError(["the config must be a JSON object"], file);
  unknownKeys(raw, TOP_KEYS, "", errors);

  const allowInsecureHttp = optBool(raw, "allowInsecureHttp", DEFAULTS.allowInsecureHttp, errors);
  const source = site(raw.source, "source", allowInsecureHttp, errors);
  const target = site(raw.target, "target", allowInsecureHttp, errors);
  if (source && target && normalizeEndpoint(source.blobEndpoint) === normalizeEndpoint(target.blobEndpoint)) {
    errors.push(`source.blobEndpoint and target.blobEndpoint must differ (both are "${source.blobEndpoint}")`);
  }

  const containers = checkContainerList(raw.containers, "containers", errors);

  const stagingDir = absPath(raw, "stagingDir", errors);
  const stateDir = absPath(raw, "stateDir", errors);
  if (stagingDir && stateDir && (within(stagingDir, stateDir) || within(stateDir, stagingDir))) {
    errors.push(`stagingDir and stateDir must not contain each other (got "${stagingDir}" and "${stateDir}")`);
  }

  let apiVersion: string = DEFAULTS.apiVersion;
  if (raw.apiVersion !== undefined) {
    if (typeof raw.apiVersion !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(raw.apiVersion)) {
      errors.push(`apiVersion must be a service version like "2017-11-09" (got ${show(raw.apiVersion)})`);
    } else apiVersion = raw.apiVersion;
  }

  const deleteDestination = optBool(raw, "deleteDestination", DEFAULTS.deleteDestination, errors);
  const transferConcurrency = optInt(raw, "transferConcurrency", DEFAULTS.transferConcurrency, 1, 256, errors);
  const blockConcurrency = optInt(raw, "blockConcurrency", DEFAULTS.blockConcurrency, 1, 64, errors);
  const blockSizeMiB = optInt(raw, "blockSizeMiB", DEFAULTS.blockSizeMiB, 1, 100, errors);
  const singleShotMaxMiB = optInt(raw, "singleShotMaxMiB", DEFAULTS.singleShotMaxMiB, 1, 256, errors);
  const retentionDays = optInt(raw, "retentionDays", DEFAULTS.retentionDays, 0, 3650, errors);

  let guards: ResolvedConfig["guards"] = DEFAULTS.guards;
  if (raw.guards !== undefined) {
    if (!isObject(raw.guards)) errors.push(`guards must be an object (got ${show(raw.guards)})`);
    else {
      unknownKeys(raw.guards, GUARD_KEYS, "guards.", errors);
      const maxDeletePercent = optNumber(raw.guards, "maxDeletePercent", DEFAULTS.guards.maxDeletePercent, 0, 100, errors, "guards.");
      const count = (key: string): number | null =>
        raw.guards && isObject(raw.guards) && raw.guards[key] !== undefined && raw.guards[key] !== null
          ? optInt(raw.guards, key, 0, 0, Number.MAX_SAFE_INTEGER, errors, "guards.") : null;
      const maxOverwritePercent = optNumber(raw.guards, "maxOverwritePercent", DEFAULTS.guards.maxOverwritePercent, 0, 100, errors, "guards.");
      const minOverwritesForPercent = optInt(raw.guards, "minOverwritesForPercent", DEFAULTS.guards.minOverwritesForPercent, 0, Number.MAX_SAFE_INTEGER, errors, "guards.");
      guards = { maxDeletePercent, maxDeleteCount: count("maxDeleteCount"), maxOverwritePercent, maxOverwriteCount: count("maxOverwriteCount"), minOverwritesForPercent };
    }
  }

  let retry: Required<RetryConfig> = DEFAULTS.retry;
  if (raw.retry !== undefined) {
    if (!isObject(raw.retry)) errors.push(`retry must be an object (got ${show(raw.retry)})`);
    else {
      unknownKeys(raw.retry, RETRY_KEYS, "retry.", errors);
      retry = {
        maxTries: optInt(raw.retry, "maxTries", DEFAULTS.retry.maxTries, 1, 20, errors, "retry."),
        retryDelayMs: optInt(raw.retry, "retryDelayMs", DEFAULTS.retry.retryDelayMs, 0, 600000, errors, "retry."),
        maxRetryDelayMs: optInt(raw.retry, "maxRetryDelayMs", DEFAULTS.retry.maxRetryDelayMs, 0, 3600000, errors, "retry."),
        tryTimeoutSeconds: optInt(raw.retry, "tryTimeoutSeconds", DEFAULTS.retry.tryTimeoutSeconds, 1, 86400, errors, "retry."),
      };
    }
  }

  const statusContainer = optContainerName(raw, "statusContainer", DEFAULTS.statusContainer, errors);
  if (statusContainer && containers.includes(statusContainer)) {
    errors.push(`statusContainer "${statusContainer}" must not be one of the replicated containers`);
  }

  const versionsContainer = optContainerName(raw, "versionsContainer", DEFAULTS.versionsContainer, errors);
  if (versionsContainer && (containers.includes(versionsContainer) || versionsContainer === statusContainer)) {
    errors.push(`versionsContainer "${versionsContainer}" must not be one of the replicated containers or the status container`);
  }

  let rpoObjectiveMinutes: number | null = DEFAULTS.rpoObjectiveMinutes;
  if (raw.rpoObjectiveMinutes !== undefined && raw.rpoObjectiveMinutes !== null) {
    rpoObjectiveMinutes = optInt(raw, "rpoObjectiveMinutes", 0, 1, 525600, errors);
  }

  const shard = raw.shard === undefined ? null : shardConfig(raw.shard, containers, errors);

  if (errors.length || !source || !target || !stagingDir || !stateDir) throw new ConfigError(errors, file);
  return {
    source, target, containers, stagingDir, stateDir, apiVersion, deleteDestination, allowInsecureHttp,
    transferConcurrency, blockConcurrency, blockSizeMiB, singleShotMaxMiB, guards, retentionDays, retry,
    statusContainer, rpoObjectiveMinutes, versionsContainer, shard,
  };
}

/** Renders a config file's text; validates first, so constructs can never render a file the runtime rejects. */
export function renderConfig(config: DrSyncConfig): string {
  validateConfig(config);
  return JSON.stringify(config, null, 2) + "\n";
}

/** The `shard` key: how many shards, which one this is (or where to read it), and which containers to split. */
function shardConfig(raw: unknown, containers: readonly string[], errors: string[]): ResolvedConfig["shard"] {
  if (!isObject(raw)) {
    errors.push(`shard must be an object like { "count": 3, "index": 0 } or { "count": 3, "indexFrom": "hostname" } (got ${show(raw)})`);
    return null;
  }
  unknownKeys(raw, SHARD_KEYS, "shard.", errors);
  const before = errors.length;
  if (raw.count === undefined) errors.push("shard.count is required: the number of shards the pair is split into");
  const count = optInt(raw, "count", 1, 1, 1000, errors, "shard.");
  let index: number | null = null;
  if (raw.index !== undefined) {
    index = optInt(raw, "index", 0, 0, 999, errors, "shard.");
    if (Number.isInteger(raw.index) && (raw.index as number) >= count && errors.length === before) {
      errors.push(`shard.index must be below shard.count (${count}); shards count from 0 to ${count - 1} (got ${show(raw.index)})`);
    }
  }
  let indexFrom: "hostname" | null = null;
  if (raw.indexFrom !== undefined) {
    if (raw.indexFrom !== "hostname") errors.push(`shard.indexFrom must be "hostname" (got ${show(raw.indexFrom)})`);
    else indexFrom = "hostname";
    if (raw.index !== undefined) errors.push("shard.index and shard.indexFrom exclude each other: give one");
  }
  const split: string[] = [];
  if (raw.split !== undefined) {
    if (!Array.isArray(raw.split)) errors.push(`shard.split must be an array of container names (got ${show(raw.split)})`);
    else {
      raw.split.forEach((c, i) => {
        if (typeof c !== "string" || !containers.includes(c)) errors.push(`shard.split[${i}] must be one of the replicated containers (got ${show(c)})`);
        else if (!split.includes(c)) split.push(c);
      });
    }
  }
  return { count, index, indexFrom, split };
}

function site(raw: unknown, key: "source" | "target", allowHttp: boolean, errors: string[]): Required<SiteConfig> | undefined {
  if (!isObject(raw)) {
    errors.push(`${key} must be an object with blobEndpoint and sasEnv (got ${show(raw)})`);
    return undefined;
  }
  unknownKeys(raw, SITE_KEYS, `${key}.`, errors);
  const before = errors.length;
  const endpoint = raw.blobEndpoint;
  let url: URL | undefined;
  if (typeof endpoint !== "string") errors.push(`${key}.blobEndpoint must be a URL string (got ${show(endpoint)})`);
  else {
    try {
      url = new URL(endpoint);
    } catch {
      errors.push(`${key}.blobEndpoint must be a URL like "https://account.blob.region.example.com/" (got ${show(endpoint)})`);
    }
  }
  if (url) {
    if (url.search || url.hash) {
      errors.push(`${key}.blobEndpoint must not carry a query or fragment; put the SAS in the variable named by ${key}.sasEnv`);
    }
    if (url.username || url.password) errors.push(`${key}.blobEndpoint must not carry credentials`);
    if (url.protocol === "http:") {
      if (!allowHttp) errors.push(`${key}.blobEndpoint must use https:// (got "${url.protocol}//"); allowInsecureHttp permits http:// on loopback only`);
      else if (!isLoopbackHost(url.hostname)) errors.push(`${key}.blobEndpoint may use http:// only on a loopback host (got host "${url.hostname}")`);
    } else if (url.protocol !== "https:") {
      errors.push(`${key}.blobEndpoint must use https:// (got "${url.protocol}//")`);
    }
  }
  if (typeof raw.sasEnv !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.sasEnv)) {
    errors.push(`${key}.sasEnv must name an environment variable, like "DR_SOURCE_SAS" (got ${show(raw.sasEnv)})`);
  }
  let name: string = key;
  if (raw.name !== undefined) {
    if (typeof raw.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw.name)) {
      errors.push(`${key}.name must be 1-63 letters, digits, dots, dashes or underscores (got ${show(raw.name)})`);
    } else name = raw.name;
  }
  let cloud: Required<SiteConfig>["cloud"] = "azure";
  if (raw.cloud !== undefined) {
    if (raw.cloud !== "azure" && raw.cloud !== "azure-stack-hub") errors.push(`${key}.cloud must be "azure-stack-hub" or "azure" (got ${show(raw.cloud)})`);
    else cloud = raw.cloud;
  }
  if (errors.length > before) return undefined;
  return { blobEndpoint: normalizeEndpoint(endpoint as string), sasEnv: raw.sasEnv as string, name, cloud };
}

/** Endpoint with exactly one trailing slash. */
export function normalizeEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, "") + "/";
}

function absPath(raw: Record<string, unknown>, key: string, errors: string[]): string | undefined {
  const v = raw[key];
  if (typeof v !== "string" || !v.startsWith("/") || v.includes("\0")) {
    errors.push(`${key} must be an absolute path (got ${show(v)})`);
    return undefined;
  }
  const normalized = v.replace(/\/+$/, "") || "/";
  if (normalized === "/") {
    errors.push(`${key} must not be the root folder`);
    return undefined;
  }
  if (normalized.split("/").includes("..")) {
    errors.push(`${key} must not contain ".." segments (got ${show(v)})`);
    return undefined;
  }
  return normalized;
}

function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent + "/");
}

function unknownKeys(obj: Record<string, unknown>, allowed: Set<string>, prefix: string, errors: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) errors.push(`${prefix}${k} is not a known key (known: ${[...allowed].filter((a) => !a.startsWith("$") && a !== "comment").join(", ")})`);
  }
}

/** An optional container name that `null` turns off. */
function optContainerName(obj: Record<string, unknown>, key: string, dflt: string | null, errors: string[]): string | null {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (v === null) return null;
  if (typeof v !== "string" || !isValidContainerName(v)) {
    errors.push(`${key} must be a container name or null (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function optBool(obj: Record<string, unknown>, key: string, dflt: boolean, errors: string[], prefix = ""): boolean {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    errors.push(`${prefix}${key} must be true or false (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function optNumber(obj: Record<string, unknown>, key: string, dflt: number, min: number, max: number, errors: string[], prefix = ""): number {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    errors.push(`${prefix}${key} must be a number from ${min} to ${max} (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function optInt(obj: Record<string, unknown>, key: string, dflt: number, min: number, max: number, errors: string[], prefix = ""): number {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.push(`${prefix}${key} must be a whole number from ${min} to ${max} (got ${show(v)})`);
    return dflt;
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}
