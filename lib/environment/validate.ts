import { checkContainerList } from "../../runtime/src/config/schema";
import {
  BackendSpec, ENVIRONMENT_DEFAULTS as D, ResolvedEnvironment, ResolvedSite, SiteRole,
} from "./schema";

/** Thrown with every problem of an environment file, each naming its key and value. */
export class EnvironmentError extends Error {
  constructor(readonly problems: readonly string[], readonly file?: string) {
    super(`${file ? `invalid environment ${file}` : "invalid environment"}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "EnvironmentError";
  }
}

type Obj = Record<string, unknown>;

/** Reads typed values from one object of the file, recording each problem under the key's full path. */
class Reader {
  constructor(readonly obj: Obj, readonly prefix: string, readonly errors: string[]) {}

  key(k: string): string {
    return `${this.prefix}${k}`;
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined;
  }

  known(keys: readonly string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!keys.includes(k) && k !== "comment" && k !== "$schema") {
        this.errors.push(`${this.key(k)} is not a known key (known: ${keys.join(", ")})`);
      }
    }
  }

  str(k: string, dflt: string | undefined, test?: RegExp, hint = "a string"): string {
    const v = this.obj[k];
    if (v === undefined) {
      if (dflt === undefined) this.errors.push(`${this.key(k)} is required (${hint})`);
      return dflt ?? "";
    }
    if (typeof v !== "string" || (test && !test.test(v))) {
      this.errors.push(`${this.key(k)} must be ${hint} (got ${show(v)})`);
      return dflt ?? "";
    }
    return v;
  }

  oneOf<T extends string>(k: string, options: readonly T[], dflt: T | undefined): T {
    const v = this.obj[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "string" || !options.includes(v as T)) {
      this.errors.push(`${this.key(k)} must be one of ${options.map((o) => `"${o}"`).join(", ")} (got ${show(v)})`);
      return dflt ?? options[0];
    }
    return v as T;
  }

  bool(k: string, dflt: boolean): boolean {
    const v = this.obj[k];
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") {
      this.errors.push(`${this.key(k)} must be true or false (got ${show(v)})`);
      return dflt;
    }
    return v;
  }

  int(k: string, dflt: number | undefined, min: number, max: number): number {
    const v = this.obj[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.errors.push(`${this.key(k)} must be a whole number from ${min} to ${max} (got ${show(v)})`);
      return dflt ?? min;
    }
    return v;
  }

  /** A nested object, or `undefined` (and a recorded problem) when present but not an object. */
  child(k: string, required: boolean): Reader | undefined {
    const v = this.obj[k];
    if (v === undefined && !required) return undefined;
    if (!isObject(v)) {
      this.errors.push(`${this.key(k)} must be an object (got ${show(v)})`);
      return undefined;
    }
    return new Reader(v, `${this.key(k)}.`, this.errors);
  }
}

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const RG_NAME = /^[-\w._()]{1,89}[-\w_()]$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DNS_SUFFIX = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const HTTPS_URL = /^https:\/\/[^\s/?#]+\/?$/;
const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const SSH_KEY = /^(ssh-rsa|ecdsa-sha2-nistp(256|384|521)|ssh-ed25519) [A-Za-z0-9+/]+={0,2}( \S.*)?$/;
/** systemd calendar expressions: no validator offline, so refuse what can never be one (line breaks, quotes, `%`). */
const ON_CALENDAR = /^[A-Za-z0-9*:/,.~+ -]{1,100}$/;
const STACK_NAME = /^[a-z0-9][a-z0-9-]{0,40}$/;
const SAS_VERSION = /^\d{4}-\d{2}-\d{2}$/;
const SITE_KEYS = [
  "cloud", "label", "location", "armEndpoint", "azureEnvironment", "storageEndpointSuffix", "subscriptionId", "tenantId",
  "auth", "resourceGroup", "createResourceGroup", "accountName", "adoptExisting", "sas", "sasVersion",
] as const;
const TOP_KEYS = [
  "name", "activeSite", "sites", "containers", "schedule", "rpoObjectiveMinutes", "deleteDestination", "guards", "vm",
  "credentials", "protectData", "tags", "backend", "dns",
] as const;

/**
 * Validates a parsed environment file and fills in defaults. Collects every problem, then throws one
 * `EnvironmentError`: a bad file fails synth with the whole list.
 * @param fallbackName the stack name when the file has none (its file name)
 */
export function validateEnvironment(raw: unknown, fallbackName: string, file?: string): ResolvedEnvironment {
  if (!isObject(raw)) throw new EnvironmentError([`the environment must be a JSON object (got ${show(raw)})`], file);
  const errors: string[] = [];
  const r = new Reader(raw, "", errors);
  r.known(TOP_KEYS);

  const name = r.str("name", fallbackName, STACK_NAME, "1-41 lowercase letters, digits or hyphens");
  const activeSite = r.oneOf<SiteRole>("activeSite", ["source", "target"], D.activeSite);

  const sitesReader = r.child("sites", true);
  sitesReader?.known(["source", "target"]);
  const source = site(sitesReader?.child("source", true), "source");
  const target = site(sitesReader?.child("target", true), "target");
  if (source.accountName && source.accountName === target.accountName && source.storageEndpointSuffix === target.storageEndpointSuffix) {
    errors.push(`sites.source.accountName and sites.target.accountName must differ (both are "${source.accountName}")`);
  }

  const containers = checkContainerList(raw.containers, "containers", errors).filter((c) => {
    if (!c.startsWith("dr-sync-")) return true;
    errors.push(`containers[${(raw.containers as unknown[]).indexOf(c)}] must not start with "dr-sync-", kept for the tool's own containers (got "${c}")`);
    return false;
  });

  const schedule = r.str("schedule", D.schedule, ON_CALENDAR, 'a systemd OnCalendar expression like "*:0/15" or "hourly"');
  const rpoObjectiveMinutes = raw.rpoObjectiveMinutes === null || raw.rpoObjectiveMinutes === undefined
    ? D.rpoObjectiveMinutes : r.int("rpoObjectiveMinutes", undefined, 1, 525600);
  const deleteDestination = r.bool("deleteDestination", D.deleteDestination);

  let guards: ResolvedEnvironment["guards"] = D.guards;
  const g = r.child("guards", false);
  if (g) {
    g.known(["maxDeletePercent", "maxDeleteCount"]);
    guards = {
      maxDeletePercent: g.int("maxDeletePercent", D.guards.maxDeletePercent, 0, 100),
      maxDeleteCount: g.obj.maxDeleteCount === null || g.obj.maxDeleteCount === undefined
        ? null : g.int("maxDeleteCount", undefined, 0, Number.MAX_SAFE_INTEGER),
    };
  }

  const v = r.child("vm", true) ?? new Reader({}, "vm.", []);
  v.known(["size", "stagingDiskGb", "adminUsername", "sshPublicKey", "sshSourceCidr", "publicIp", "addressSpace", "resourceGroup", "image"]);
  let image: ResolvedEnvironment["vm"]["image"] = D.vm.image;
  const img = v.child("image", false);
  if (img) {
    img.known(["publisher", "offer", "sku", "version"]);
    image = {
      publisher: img.str("publisher", undefined, /^\S+$/, "an image publisher"),
      offer: img.str("offer", undefined, /^\S+$/, "an image offer"),
      sku: img.str("sku", undefined, /^\S+$/, "an image SKU"),
      version: img.str("version", "latest", /^\S+$/, "an image version"),
    };
  }
  const sshSourceCidr = v.obj.sshSourceCidr === null || v.obj.sshSourceCidr === undefined
    ? null : v.str("sshSourceCidr", undefined, CIDR, 'an IPv4 CIDR like "203.0.113.0/24"');
  if (sshSourceCidr === "0.0.0.0/0") errors.push(`vm.sshSourceCidr must not open SSH to the whole internet (got "0.0.0.0/0")`);
  const vm: ResolvedEnvironment["vm"] = {
    size: v.str("size", D.vm.size, /^[A-Za-z0-9_]+$/, 'a VM size like "Standard_DS2_v2"'),
    stagingDiskGb: v.int("stagingDiskGb", D.vm.stagingDiskGb, 8, 4095),
    adminUsername: v.str("adminUsername", D.vm.adminUsername, /^(?!(root|admin|administrator)$)[a-z_][a-z0-9_-]{0,31}$/, 'a Linux user name other than "root" or "admin"'),
    sshPublicKey: v.str("sshPublicKey", undefined, SSH_KEY, 'an OpenSSH public key ("ssh-rsa AAAA...")'),
    sshSourceCidr,
    publicIp: v.bool("publicIp", D.vm.publicIp),
    addressSpace: v.str("addressSpace", D.vm.addressSpace, /^(\d{1,3}\.){3}\d{1,3}\/(1[6-9]|2[0-7])$/, "an IPv4 CIDR from /16 to /27"),
    resourceGroup: v.str("resourceGroup", `${name}-dr-vm`, RG_NAME, "a resource group name"),
    image,
  };

  const c = r.child("credentials", false);
  c?.known(["rotationDays", "graceDays", "generation"]);
  const credentials = {
    rotationDays: c ? c.int("rotationDays", D.credentials.rotationDays, 1, 365) : D.credentials.rotationDays,
    graceDays: c ? c.int("graceDays", D.credentials.graceDays, 1, 90) : D.credentials.graceDays,
    generation: c ? c.int("generation", D.credentials.generation, 1, 1_000_000) : D.credentials.generation,
  };

  const protectData = r.bool("protectData", D.protectData);

  const tags: Record<string, string> = {};
  const t = r.child("tags", false);
  for (const [k, val] of Object.entries(t?.obj ?? {})) {
    if (!/^[^<>%&\\?/]{1,512}$/.test(k) || typeof val !== "string" || val.length > 256) {
      errors.push(`tags.${k} must be a string of at most 256 characters under a key without <>%&\\?/ (got ${show(val)})`);
    } else tags[k] = val;
  }

  const backend = backendOf(r.child("backend", false), name);

  let dns: ResolvedEnvironment["dns"];
  const d = r.child("dns", false);
  if (d) {
    d.known(["zoneSite", "zoneName", "resourceGroup", "recordName", "ttl"]);
    dns = {
      zoneSite: d.oneOf<SiteRole>("zoneSite", ["source", "target"], undefined),
      zoneName: d.str("zoneName", undefined, DNS_SUFFIX, 'a DNS zone like "contoso.com"'),
      resourceGroup: d.str("resourceGroup", undefined, RG_NAME, "a resource group name"),
      recordName: d.str("recordName", undefined, /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a record name like "blobs"'),
      ttl: d.int("ttl", D.dnsTtl, 1, 86400),
    };
  }

  if (errors.length) throw new EnvironmentError(errors, file);
  return {
    name, activeSite, sites: { source, target }, containers, schedule, rpoObjectiveMinutes, deleteDestination, guards,
    vm, credentials, protectData, tags, backend, dns,
  };

  function site(s: Reader | undefined, role: SiteRole): ResolvedSite {
    const x = s ?? new Reader({}, `sites.${role}.`, []);
    x.known(SITE_KEYS);
    const cloud = x.oneOf("cloud", ["azure", "azurestack"] as const, undefined);
    const onStack = cloud === "azurestack";
    const armEndpoint = onStack || x.has("armEndpoint")
      ? x.str("armEndpoint", undefined, HTTPS_URL, 'the stamp\'s ARM endpoint, like "https://management.local.azurestack.external"')
      : undefined;
    if (!onStack && x.has("armEndpoint")) errors.push(`${x.key("armEndpoint")} applies to "azurestack" sites only (got ${show(x.obj.armEndpoint)})`);
    if (onStack && x.has("azureEnvironment")) errors.push(`${x.key("azureEnvironment")} applies to "azure" sites only (got ${show(x.obj.azureEnvironment)})`);
    const optGuid = (k: string) => (x.has(k) ? x.str(k, undefined, GUID, "a GUID") : undefined);
    return {
      role,
      cloud,
      label: x.str("label", role, LABEL, "1-63 letters, digits, dots, dashes or underscores"),
      location: x.str("location", undefined, /^[A-Za-z0-9 -]{1,64}$/, 'a region name like "westeurope" or "local"'),
      armEndpoint,
      azureEnvironment: x.oneOf("azureEnvironment", ["public", "usgovernment", "china", "german"], D.azureEnvironment),
      storageEndpointSuffix: x.str("storageEndpointSuffix", onStack ? undefined : D.azureStorageEndpointSuffix, DNS_SUFFIX,
        'the storage DNS suffix, like "local.azurestack.external" (blob endpoints are https://<account>.blob.<suffix>/)'),
      subscriptionId: optGuid("subscriptionId"),
      tenantId: optGuid("tenantId"),
      auth: x.oneOf("auth", ["environment", "variables"], D.auth),
      resourceGroup: x.str("resourceGroup", undefined, RG_NAME, "a resource group name"),
      createResourceGroup: x.bool("createResourceGroup", true),
      accountName: x.str("accountName", undefined, ACCOUNT_NAME, "3-24 lowercase letters or digits"),
      adoptExisting: x.bool("adoptExisting", false),
      sas: x.oneOf("sas", ["sign", "variable"], D.sas),
      sasVersion: x.str("sasVersion", D.sasVersion, SAS_VERSION, 'a storage service version like "2017-11-09"'),
    };
  }

  function backendOf(b: Reader | undefined, stack: string): BackendSpec {
    if (!b) return { type: "local" };
    const type = b.oneOf("type", ["local", "azurerm"] as const, undefined);
    if (type === "local") {
      b.known(["type", "path"]);
      return b.has("path") ? { type, path: b.str("path", undefined, /^\S+$/, "a file path") } : { type };
    }
    b.known(["type", "resourceGroupName", "storageAccountName", "containerName", "key", "environment", "useAzureadAuth"]);
    return {
      type,
      resourceGroupName: b.str("resourceGroupName", undefined, RG_NAME, "a resource group name"),
      storageAccountName: b.str("storageAccountName", undefined, ACCOUNT_NAME, "3-24 lowercase letters or digits"),
      containerName: b.str("containerName", undefined, /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/, "a container name"),
      key: b.str("key", `${stack}.tfstate`, /^\S+$/, "a blob name"),
      environment: b.oneOf("environment", ["public", "usgovernment", "china", "german"], "public"),
      useAzureadAuth: b.bool("useAzureadAuth", true),
    };
  }
}

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}
