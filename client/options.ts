import { ClientConfigError } from "./errors";

/** One site as the stack outputs give it to applications: its blob endpoint and its own SAS. */
export interface SiteOptions {
  /** A label for messages, the miss journal and `activeSite()`, e.g. the site's label in the environment ("hub-east"). */
  readonly name: string;
  /** The account's blob endpoint, e.g. `https://exampledrsource.blob.east.contoso.com/`. */
  readonly blobEndpoint: string;
  /** This site's SAS token, with or without the leading `?`. Never logged or put in an error. */
  readonly sas: string;
}

/** How a write to a synchronous container that reached only one site is treated. */
export type DualWriteMode =
  /** The call fails (`DualWriteError`): the application knows the write is not durable at both sites. */
  | "strict"
  /** The call succeeds; the miss is appended to the journal at the active site for the next dr-sync cycle. */
  | "best-effort";

export interface DualWriteOptions {
  /** Containers whose writes land at both sites before the call returns (RPO zero for them). */
  readonly containers: readonly string[];
  /** @default "strict" */
  readonly mode?: DualWriteMode;
}

/** What the client reports about itself; messages never hold a SAS. */
export interface ClientEvent {
  readonly kind: "active-site" | "fence-check" | "split-brain" | "no-active-site" | "rerouted" | "dual-write-miss";
  readonly message: string;
  /** The active site after the event, when known. */
  readonly site?: string;
}

export interface FailoverClientOptions {
  /** The two sites, in any order: the fences say which one is active. */
  readonly sites: readonly [SiteOptions, SiteOptions];
  /** How long a decision about the active site is used before both fences are read again. A failover declared by
   *  deploying reaches the application within this time (plus one fence read), without a restart.
   *  @default 30000 (30 s) */
  readonly recheckAfterMs?: number;
  /** The shortest time between two fence checks, however many requests fail meanwhile (an outage makes every
   *  request fail; this keeps the fence reads to one per interval).
   *  @default 1000 */
  readonly minRecheckIntervalMs?: number;
  /** How long one fence read may take before the site counts as unreadable.
   *  @default 5000 */
  readonly fenceTimeoutMs?: number;
  /** Container of the fence (`<container>/fence.json`) and of the dual-write miss journal.
   *  @default "dr-sync-status" */
  readonly fenceContainer?: string;
  /** Synchronous containers: written at both sites before each call returns.
   *  @default none: every write goes to the active site only */
  readonly dualWrites?: DualWriteOptions;
  /** `x-ms-version` of every request the client sends (the application's, fence reads, journal appends).
   *  @default "2017-11-09" (what Azure Stack Hub accepts) */
  readonly apiVersion?: string;
  /** Accept `http://` endpoints, on loopback hosts only (local tests and drills).
   *  @default false */
  readonly allowInsecureHttp?: boolean;
  /** Receives what the client decides (site switches, split brain, misses). @default none */
  readonly onEvent?: (event: ClientEvent) => void;
  /** The clock, in milliseconds; tests pass a fake one. @default Date.now */
  readonly now?: () => number;
}

/** A site after validation: endpoint with a trailing slash, SAS without `?`. */
export interface ResolvedSite {
  readonly name: string;
  readonly blobEndpoint: string;
  readonly sas: string;
  /** `origin` and `pathname` of the endpoint, for matching request URLs. */
  readonly origin: string;
  readonly path: string;
}

export interface ResolvedOptions {
  readonly sites: readonly [ResolvedSite, ResolvedSite];
  readonly recheckAfterMs: number;
  readonly minRecheckIntervalMs: number;
  readonly fenceTimeoutMs: number;
  readonly fenceContainer: string;
  readonly synchronous: ReadonlySet<string>;
  readonly dualWriteMode: DualWriteMode;
  readonly apiVersion: string;
  readonly onEvent: (event: ClientEvent) => void;
  readonly now: () => number;
}

export const CLIENT_DEFAULTS = {
  recheckAfterMs: 30_000,
  minRecheckIntervalMs: 1_000,
  fenceTimeoutMs: 5_000,
  fenceContainer: "dr-sync-status",
  dualWriteMode: "strict" as DualWriteMode,
  apiVersion: "2017-11-09",
};

const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

// Collect every problem, then throw once: the application's owner fixes the settings in one pass. A SAS value is
// never quoted, only whether it looks like one.
export function resolveOptions(o: FailoverClientOptions): ResolvedOptions {
  const problems: string[] = [];
  const sites: ResolvedSite[] = [];
  if (!Array.isArray(o?.sites) || o.sites.length !== 2) {
    problems.push(`sites must list exactly two sites (got ${Array.isArray(o?.sites) ? o.sites.length : typeof o?.sites})`);
  } else {
    o.sites.forEach((s, i) => {
      const key = `sites[${i}]`;
      if (typeof s?.name !== "string" || !s.name.trim()) problems.push(`${key}.name must be a non-empty label`);
      let url: URL | undefined;
      try {
        url = new URL(String(s?.blobEndpoint));
        if (url.search || url.hash) {
          problems.push(`${key}.blobEndpoint must be the endpoint alone, without a query (put the SAS in ${key}.sas)`);
          url = undefined;
        }
      } catch {
        problems.push(`${key}.blobEndpoint must be a URL like https://account.blob.region.example.com/ (got ${JSON.stringify(String(s?.blobEndpoint).split("?")[0])})`);
      }
      if (url && url.protocol !== "https:") {
        if (url.protocol !== "http:") problems.push(`${key}.blobEndpoint must be https (got ${url.protocol})`);
        else if (!o.allowInsecureHttp) problems.push(`${key}.blobEndpoint must be https; http needs allowInsecureHttp (loopback only)`);
        else if (!LOOPBACK.has(url.hostname)) problems.push(`${key}.blobEndpoint: http is accepted on loopback hosts only (got ${url.hostname})`);
      }
      const sas = typeof s?.sas === "string" ? s.sas.replace(/^\?/, "") : "";
      if (!/(^|&)sig=[^&]+/.test(sas) || !/(^|&)sv=[^&]+/.test(sas)) problems.push(`${key}.sas must be a SAS token (with its sv and sig parameters)`);
      if (url) {
        const path = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
        sites.push({ name: String(s.name), blobEndpoint: `${url.origin}${path}`, sas, origin: url.origin, path });
      }
    });
    if (sites.length === 2) {
      if (sites[0].name === sites[1].name) problems.push(`sites[0].name and sites[1].name must differ (both "${sites[0].name}")`);
      if (sites[0].blobEndpoint === sites[1].blobEndpoint) problems.push(`sites[0].blobEndpoint and sites[1].blobEndpoint must differ`);
    }
  }
  const ms = (key: keyof FailoverClientOptions, fallback: number, min: number): number => {
    const v = o?.[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) problems.push(`${key} must be a number of milliseconds >= ${min} (got ${JSON.stringify(v)})`);
    return v as number;
  };
  const recheckAfterMs = ms("recheckAfterMs", CLIENT_DEFAULTS.recheckAfterMs, 1);
  const minRecheckIntervalMs = ms("minRecheckIntervalMs", CLIENT_DEFAULTS.minRecheckIntervalMs, 0);
  const fenceTimeoutMs = ms("fenceTimeoutMs", CLIENT_DEFAULTS.fenceTimeoutMs, 1);
  if (minRecheckIntervalMs > recheckAfterMs) problems.push(`minRecheckIntervalMs (${minRecheckIntervalMs}) must not exceed recheckAfterMs (${recheckAfterMs})`);
  const fenceContainer = o?.fenceContainer ?? CLIENT_DEFAULTS.fenceContainer;
  if (!CONTAINER_NAME.test(fenceContainer)) problems.push(`fenceContainer must be a container name (got ${JSON.stringify(fenceContainer)})`);
  const containers = o?.dualWrites?.containers ?? [];
  if (o?.dualWrites && !Array.isArray(containers)) problems.push("dualWrites.containers must be a list of container names");
  for (const c of Array.isArray(containers) ? containers : []) {
    if (!CONTAINER_NAME.test(c)) problems.push(`dualWrites.containers: ${JSON.stringify(c)} is not a container name`);
    if (c === fenceContainer) problems.push(`dualWrites.containers must not name the fence container "${c}"`);
  }
  const mode = o?.dualWrites?.mode ?? CLIENT_DEFAULTS.dualWriteMode;
  if (mode !== "strict" && mode !== "best-effort") problems.push(`dualWrites.mode must be "strict" or "best-effort" (got ${JSON.stringify(mode)})`);
  const apiVersion = o?.apiVersion ?? CLIENT_DEFAULTS.apiVersion;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(apiVersion)) problems.push(`apiVersion must look like 2017-11-09 (got ${JSON.stringify(apiVersion)})`);
  if (problems.length) throw new ClientConfigError(problems);
  return {
    sites: [sites[0], sites[1]], recheckAfterMs, minRecheckIntervalMs, fenceTimeoutMs, fenceContainer,
    synchronous: new Set(containers), dualWriteMode: mode, apiVersion,
    onEvent: o.onEvent ?? (() => undefined), now: o.now ?? Date.now,
  };
}
