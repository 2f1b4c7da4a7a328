import { checkContainerList } from "../../runtime/src/config/schema";
import { checkScaleOut, checkShardSplit } from "../compute/scale-out-rules";
import { SCALE_OUT_MODES } from "../compute/shard-plan";
import { pattern, PropProblems, PropRule, RULES, show } from "../validation/prop-rules";
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

  /** A string, checked with one of the constructs' rules (`RULES`) where the value becomes a prop. */
  str(k: string, dflt: string | undefined, rule: PropRule = pattern(/^/, "a string")): string {
    const v = this.obj[k];
    if (v === undefined) {
      if (dflt === undefined) this.errors.push(`${this.key(k)} is required (${rule.expected})`);
      return dflt ?? "";
    }
    if (typeof v !== "string" || !rule.test(v)) {
      this.errors.push(`${this.key(k)} must be ${rule.expected} (got ${show(v)})`);
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

  int(k: string, dflt: number | undefined, rule: PropRule): number {
    const v = this.obj[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !rule.test(v)) {
      this.errors.push(`${this.key(k)} must be ${rule.expected} (got ${show(v)})`);
      return dflt ?? 0;
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

// Rules of values that become construct props are the constructs' own (RULES); these exist only in the file.
const GUID = pattern(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "a GUID");
const HTTPS_URL = pattern(/^https:\/\/[^\s/?#]+\/?$/, 'the stamp\'s ARM endpoint, like "https://management.local.azurestack.external"');
const STACK_NAME = pattern(/^[a-z0-9][a-z0-9-]{0,40}$/, "1-41 lowercase letters, digits or hyphens");
const NO_SPACES = (what: string) => pattern(/^\S+$/, what);
const SITE_KEYS = [
  "cloud", "label", "location", "armEndpoint", "azureEnvironment", "storageEndpointSuffix", "subscriptionId", "tenantId",
  "auth", "resourceGroup", "createResourceGroup", "accountName", "adoptExisting", "sas", "sasVersion",
] as const;
const TOP_KEYS = [
  "name", "activeSite", "sites", "containers", "schedule", "rpoObjectiveMinutes", "deleteDestination", "guards", "vm",
  "credentials", "protectData", "tags", "backend", "dns", "shardSplit",
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

  const name = r.str("name", fallbackName, STACK_NAME);
  const activeSite = r.oneOf<SiteRole>("activeSite", ["source", "target"], D.activeSite);

  const sitesReader = r.child("sites", true);
  sitesReader?.known(["source", "target"]);
  const source = site(sitesReader?.child("source", true), "source");
  const target = site(sitesReader?.child("target", true), "target");
  if (source.accountName && source.accountName === target.accountName && source.storageEndpointSuffix === target.storageEndpointSuffix) {
    errors.push(`sites.source.accountName and sites.target.accountName must differ (both are "${source.accountName}")`);
  }

  const containers = checkContainerList(raw.containers, "containers", errors).filter((c) =>
    new PropProblems(errors).check(`containers[${(raw.containers as unknown[]).indexOf(c)}]`, c, RULES.replicatedContainer));

  const schedule = r.str("schedule", D.schedule, RULES.schedule);
  const rpoObjectiveMinutes = raw.rpoObjectiveMinutes === null || raw.rpoObjectiveMinutes === undefined
    ? D.rpoObjectiveMinutes : r.int("rpoObjectiveMinutes", undefined, RULES.rpoObjectiveMinutes);
  const deleteDestination = r.bool("deleteDestination", D.deleteDestination);

  let guards: ResolvedEnvironment["guards"] = D.guards;
  const g = r.child("guards", false);
  if (g) {
    g.known(["maxDeletePercent", "maxDeleteCount"]);
    guards = {
      maxDeletePercent: g.int("maxDeletePercent", D.guards.maxDeletePercent, RULES.maxDeletePercent),
      maxDeleteCount: g.obj.maxDeleteCount === null || g.obj.maxDeleteCount === undefined
        ? null : g.int("maxDeleteCount", undefined, RULES.maxDeleteCount),
    };
  }

  const v = r.child("vm", true) ?? new Reader({}, "vm.", []);
  v.known(["size", "stagingDiskGb", "adminUsername", "sshPublicKey", "sshSourceCidr", "publicIp", "addressSpace", "resourceGroup", "image", "instances", "scaleOut"]);
  let image: ResolvedEnvironment["vm"]["image"] = D.vm.image;
  const img = v.child("image", false);
  if (img) {
    img.known(["publisher", "offer", "sku", "version"]);
    image = {
      publisher: img.str("publisher", undefined, RULES.imageField),
      offer: img.str("offer", undefined, RULES.imageField),
      sku: img.str("sku", undefined, RULES.imageField),
      version: img.str("version", "latest", RULES.imageField),
    };
  }
  const sshSourceCidr = v.obj.sshSourceCidr === null || v.obj.sshSourceCidr === undefined
    ? null : v.str("sshSourceCidr", undefined, RULES.sshSourceCidr);
  const vm: ResolvedEnvironment["vm"] = {
    size: v.str("size", D.vm.size, RULES.vmSize),
    stagingDiskGb: v.int("stagingDiskGb", D.vm.stagingDiskGb, RULES.stagingDiskGb),
    adminUsername: v.str("adminUsername", D.vm.adminUsername, RULES.adminUsername),
    sshPublicKey: v.str("sshPublicKey", undefined, RULES.sshPublicKey),
    sshSourceCidr,
    publicIp: v.bool("publicIp", D.vm.publicIp),
    addressSpace: v.str("addressSpace", D.vm.addressSpace, RULES.addressSpace),
    resourceGroup: v.str("resourceGroup", `${name}-dr-vm`, RULES.resourceGroupName),
    image,
    instances: v.int("instances", D.vm.instances, RULES.instances),
    scaleOut: v.oneOf("scaleOut", SCALE_OUT_MODES, D.vm.scaleOut),
  };
  checkScaleOut(vm, new PropProblems(errors, "vm."));
  checkShardSplit(raw.shardSplit, containers, vm.instances, new PropProblems(errors));
  const shardSplit = Array.isArray(raw.shardSplit) ? (raw.shardSplit as string[]) : [];

  const c = r.child("credentials", false);
  c?.known(["rotationDays", "graceDays", "generation"]);
  const credentials = {
    rotationDays: c ? c.int("rotationDays", D.credentials.rotationDays, RULES.rotationDays) : D.credentials.rotationDays,
    graceDays: c ? c.int("graceDays", D.credentials.graceDays, RULES.graceDays) : D.credentials.graceDays,
    generation: c ? c.int("generation", D.credentials.generation, RULES.generation) : D.credentials.generation,
  };

  const protectData = r.bool("protectData", D.protectData);

  const tags: Record<string, string> = {};
  const t = r.child("tags", false);
  for (const [k, val] of Object.entries(t?.obj ?? {})) {
    const p = new PropProblems(errors);
    if (p.check("tags", k, RULES.tagKey) && p.check(`tags.${k}`, val, RULES.tagValue)) tags[k] = val as string;
  }

  const backend = backendOf(r.child("backend", false), name);

  let dns: ResolvedEnvironment["dns"];
  const d = r.child("dns", false);
  if (d) {
    d.known(["zoneSite", "zoneName", "resourceGroup", "recordName", "ttl"]);
    dns = {
      zoneSite: d.oneOf<SiteRole>("zoneSite", ["source", "target"], undefined),
      zoneName: d.str("zoneName", undefined, RULES.dnsZone),
      resourceGroup: d.str("resourceGroup", undefined, RULES.resourceGroupName),
      recordName: d.str("recordName", undefined, RULES.dnsRecordName),
      ttl: d.int("ttl", D.dnsTtl, RULES.dnsTtl),
    };
  }

  if (errors.length) throw new EnvironmentError(errors, file);
  return {
    name, activeSite, sites: { source, target }, containers, schedule, rpoObjectiveMinutes, deleteDestination, guards,
    vm, credentials, protectData, tags, backend, dns, shardSplit,
  };

  function site(s: Reader | undefined, role: SiteRole): ResolvedSite {
    const x = s ?? new Reader({}, `sites.${role}.`, []);
    x.known(SITE_KEYS);
    const cloud = x.oneOf("cloud", ["azure", "azurestack"] as const, undefined);
    const onStack = cloud === "azurestack";
    const armEndpoint = onStack || x.has("armEndpoint")
      ? x.str("armEndpoint", undefined, HTTPS_URL)
      : undefined;
    if (!onStack && x.has("armEndpoint")) errors.push(`${x.key("armEndpoint")} applies to "azurestack" sites only (got ${show(x.obj.armEndpoint)})`);
    if (onStack && x.has("azureEnvironment")) errors.push(`${x.key("azureEnvironment")} applies to "azure" sites only (got ${show(x.obj.azureEnvironment)})`);
    const optGuid = (k: string) => (x.has(k) ? x.str(k, undefined, GUID) : undefined);
    return {
      role,
      cloud,
      label: x.str("label", role, RULES.label),
      location: x.str("location", undefined, RULES.location),
      armEndpoint,
      azureEnvironment: x.oneOf("azureEnvironment", ["public", "usgovernment", "china", "german"], D.azureEnvironment),
      storageEndpointSuffix: x.str("storageEndpointSuffix", onStack ? undefined : D.azureStorageEndpointSuffix, RULES.storageEndpointSuffix),
      subscriptionId: optGuid("subscriptionId"),
      tenantId: optGuid("tenantId"),
      auth: x.oneOf("auth", ["environment", "variables"], D.auth),
      resourceGroup: x.str("resourceGroup", undefined, RULES.resourceGroupName),
      createResourceGroup: x.bool("createResourceGroup", true),
      accountName: x.str("accountName", undefined, RULES.accountName),
      adoptExisting: x.bool("adoptExisting", false),
      sas: x.oneOf("sas", ["sign", "variable"], D.sas),
      sasVersion: x.str("sasVersion", D.sasVersion, RULES.sasVersion),
    };
  }

  function backendOf(b: Reader | undefined, stack: string): BackendSpec {
    if (!b) return { type: "local" };
    const type = b.oneOf("type", ["local", "azurerm"] as const, undefined);
    if (type === "local") {
      b.known(["type", "path"]);
      return b.has("path") ? { type, path: b.str("path", undefined, NO_SPACES("a file path")) } : { type };
    }
    b.known(["type", "resourceGroupName", "storageAccountName", "containerName", "key", "environment", "useAzureadAuth"]);
    return {
      type,
      resourceGroupName: b.str("resourceGroupName", undefined, RULES.resourceGroupName),
      storageAccountName: b.str("storageAccountName", undefined, RULES.accountName),
      containerName: b.str("containerName", undefined, RULES.containerName),
      key: b.str("key", `${stack}.tfstate`, NO_SPACES("a blob name")),
      environment: b.oneOf("environment", ["public", "usgovernment", "china", "german"], "public"),
      useAzureadAuth: b.bool("useAzureadAuth", true),
    };
  }
}

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
