import { Token } from "cdktf";
import { isValidContainerName } from "../../runtime/src/config/schema";
import { MAX_INSTANCES, SCALE_OUT_MODES } from "../compute/shard-plan";

/**
 * The rules of the public props, in one place: the constructs check their props with them, and the environment-file
 * validator checks the file's keys with the same ones, so a value is accepted or refused, with the same words,
 * whichever way it comes in.
 */
export interface PropRule {
  /** What a good value is, as the message says it: "must be <expected> (got <value>)". */
  readonly expected: string;
  test(value: unknown): boolean;
}

export function pattern(re: RegExp, expected: string): PropRule {
  return { expected, test: (v) => typeof v === "string" && re.test(v) };
}

export function wholeNumber(min: number, max: number): PropRule {
  return {
    expected: max === Number.MAX_SAFE_INTEGER ? `a whole number from ${min}` : `a whole number from ${min} to ${max}`,
    test: (v) => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max,
  };
}

export function oneOf<T extends string>(options: readonly T[]): PropRule {
  return { expected: `one of ${options.map((o) => `"${o}"`).join(", ")}`, test: (v) => typeof v === "string" && (options as readonly string[]).includes(v) };
}

const DNS_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const prefixLength = (v: string) => Number(v.split("/")[1]);

export const RULES = {
  accountName: pattern(/^[a-z0-9]{3,24}$/, "3-24 lowercase letters or digits"),
  resourceGroupName: pattern(/^[-\w._()]{1,89}[-\w_()]$/, "a resource group name"),
  location: pattern(/^[A-Za-z0-9 -]{1,64}$/, 'a region name like "westeurope" or "local"'),
  storageEndpointSuffix: pattern(new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(\\.${DNS_LABEL})*$`),
    'the storage DNS suffix, like "local.azurestack.external" (blob endpoints are https://<account>.blob.<suffix>/)'),
  dnsZone: pattern(new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(\\.${DNS_LABEL})*$`), 'a DNS zone like "contoso.com"'),
  dnsRecordName: pattern(new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`), 'a record name like "blobs"'),
  label: pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "1-63 letters, digits, dots, dashes or underscores"),
  sasVersion: pattern(/^\d{4}-\d{2}-\d{2}$/, 'a storage service version like "2017-11-09"'),
  /** Resource names are `<prefix>-vm`, `<prefix>-nsg`...: Azure's limits leave room for about 50 characters. */
  namePrefix: pattern(/^[a-z0-9][a-z0-9-]{0,49}$/, "1-50 lowercase letters, digits or hyphens, starting with a letter or digit"),
  /** systemd calendar expressions: no validator offline, so refuse what can never be one (line breaks, quotes, `%`). */
  schedule: pattern(/^[A-Za-z0-9*:/,.~+ -]{1,100}$/, 'a systemd OnCalendar expression like "*:0/15" or "hourly"'),
  vmSize: pattern(/^[A-Za-z0-9_]+$/, 'a VM size like "Standard_DS2_v2"'),
  adminUsername: pattern(/^(?!(root|admin|administrator)$)[a-z_][a-z0-9_-]{0,31}$/, 'a Linux user name other than "root" or "admin"'),
  sshPublicKey: pattern(/^(ssh-rsa|ecdsa-sha2-nistp(256|384|521)|ssh-ed25519) [A-Za-z0-9+/]+={0,2}( \S.*)?$/, 'an OpenSSH public key ("ssh-rsa AAAA...")'),
  sshSourceCidr: {
    expected: 'an IPv4 CIDR like "203.0.113.0/24", not the whole internet ("0.0.0.0/0")',
    test: (v: unknown) => typeof v === "string" && CIDR.test(v) && prefixLength(v) > 0,
  } as PropRule,
  /** The VM's subnet is the first /27 of it, or all of it when smaller; Azure's smallest subnet is a /29. */
  addressSpace: {
    expected: "an IPv4 CIDR from /8 to /29",
    test: (v: unknown) => typeof v === "string" && CIDR.test(v) && prefixLength(v) >= 8 && prefixLength(v) <= 29,
  } as PropRule,
  stagingDiskGb: wholeNumber(8, 4095),
  stagingDiskLun: wholeNumber(0, 63),
  /** Each intermediary's NIC takes an address of the VM subnet (see `MAX_INSTANCES`). */
  instances: wholeNumber(1, MAX_INSTANCES),
  scaleOut: oneOf(SCALE_OUT_MODES),
  rpoObjectiveMinutes: wholeNumber(1, 525600),
  maxDeletePercent: wholeNumber(0, 100),
  maxDeleteCount: wholeNumber(0, Number.MAX_SAFE_INTEGER),
  rotationDays: wholeNumber(1, 365),
  graceDays: wholeNumber(1, 90),
  generation: wholeNumber(1, 1_000_000),
  dnsTtl: wholeNumber(1, 86400),
  siteRole: oneOf(["source", "target"]),
  sasMode: oneOf(["sign", "variable"]),
  /** Containers named `dr-sync-...` hold the tool's own artifacts and status; replicating them would loop. */
  replicatedContainer: {
    expected: 'a container name not starting with "dr-sync-" (kept for the tool\'s own containers)',
    test: (v: unknown) => typeof v === "string" && !v.startsWith("dr-sync-"),
  } as PropRule,
  /** Container names as the storage service allows them (the runtime's config checks the same). */
  containerName: { expected: "3-63 lowercase letters, digits or single hyphens", test: (v: unknown) => typeof v === "string" && isValidContainerName(v) } as PropRule,
  imageField: pattern(/^\S+$/, "a marketplace image field without spaces"),
  tagKey: pattern(/^[^<>%&\\?/]{1,512}$/, "a tag name of 1-512 characters without <>%&\\?/"),
  tagValue: { expected: "a string of at most 256 characters", test: (v: unknown) => typeof v === "string" && v.length <= 256 } as PropRule,
} as const;

/** A value for a message: JSON, cut short; an SSH key or a long script never floods the error. */
export function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

/** Thrown by a construct with every problem of its props, each naming the prop and the value. */
export class PropsError extends Error {
  constructor(readonly construct: string, readonly problems: readonly string[]) {
    super(`${construct}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PropsError";
  }
}

/**
 * Collects the problems of a construct's props (as aws-cdk's constructs do), then throws them all at once, so a
 * caller fixes every prop in one pass. Values that are Terraform tokens are only known at apply time: not checked.
 */
export class PropProblems {
  constructor(readonly list: string[] = [], private readonly prefix = "") {}

  /** Problems under a nested prop, e.g. `vm.` */
  at(prefix: string): PropProblems {
    return new PropProblems(this.list, `${this.prefix}${prefix}`);
  }

  /** Checks one prop; `undefined` (use the default) passes. Returns whether the value passed. */
  check(prop: string, value: unknown, rule: PropRule): boolean {
    if (value === undefined || (typeof value === "string" && Token.isUnresolved(value))) return true;
    if (rule.test(value)) return true;
    this.list.push(`${this.prefix}${prop} must be ${rule.expected} (got ${show(value)})`);
    return false;
  }

  add(problem: string): void {
    this.list.push(`${this.prefix}${problem}`);
  }

  /** Throws a `PropsError` naming the construct (its class and path) when any problem was found. */
  throwIfAny(construct: string): void {
    if (this.list.length) throw new PropsError(construct, this.list);
  }
}
