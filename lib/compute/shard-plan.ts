import { DrSyncConfig, renderConfig } from "../../runtime/src/config/schema";

/** How N intermediaries are deployed: one scale set, or N plain VMs. */
export type ScaleOut = "scale-set" | "vms";
export const SCALE_OUT_MODES: readonly ScaleOut[] = ["scale-set", "vms"];

/**
 * The runtime's `shard` config key, as agreed with it: a fixed index, or the index read from the host name (the last
 * 6 characters, base 36: a scale set instance's computer name is its prefix plus its instance ID in base 36, padded to
 * 6, and survives reimaging). `split` names large containers split by top-level prefix.
 */
export interface ShardSetting {
  readonly count: number;
  readonly index?: number;
  readonly indexFrom?: "hostname";
  readonly split?: readonly string[];
}

/**
 * The most intermediaries one pair may have. Every NIC takes an address of the VM subnet, which is at most a /27:
 * 32 addresses less the 5 Azure (and Stack Hub) reserve in every subnet leave 27.
 */
export const MAX_INSTANCES = 27;

/** Addresses of a subnet that NICs can use: Azure reserves the first four and the last. */
export function usableAddresses(subnetPrefixLength: number): number {
  return 2 ** (32 - subnetPrefixLength) - 5;
}

/** The VM subnet: the first /27 of the address space, or all of it when smaller. */
export function vmSubnet(addressSpace: string): { readonly prefix: string; readonly length: number } {
  const [base, bits] = addressSpace.split("/");
  const length = Math.max(Number(bits), 27);
  return { prefix: Number(bits) < 27 ? `${base}/27` : addressSpace, length };
}

/**
 * The shard setting each deployed machine gets, in order: one entry for a single VM (no shard key, the config of
 * before), one shared entry for a scale set (index from the host name), one per VM otherwise (a fixed index).
 */
export function vmShards(instances: number, scaleOut: ScaleOut): readonly (ShardSetting | undefined)[] {
  if (instances === 1) return [undefined];
  if (scaleOut === "scale-set") return [{ count: instances, indexFrom: "hostname" }];
  return Array.from({ length: instances }, (_, index) => ({ count: instances, index }));
}

/** Length of the base-36 instance ID at the end of a scale set instance's computer name. */
export const INSTANCE_ID_DIGITS = 6;

/** The computer name Azure gives scale set instance `id`: the prefix, then the ID in base 36, zero-padded to 6. */
export function scaleSetComputerName(prefix: string, id: number): string {
  return `${prefix}${id.toString(36).padStart(INSTANCE_ID_DIGITS, "0")}`;
}

/**
 * The config file of one machine: the pair's config, validated by the runtime's own schema, with the machine's
 * `shard` key last. Without a shard the text is `renderConfig`'s, byte for byte.
 */
export function renderShardedConfig(config: DrSyncConfig, shard: ShardSetting | undefined): string {
  const text = renderConfig(config);
  if (!shard) return text;
  checkShard(shard, config.containers);
  return JSON.stringify({ ...config, shard }, null, 2) + "\n";
}

/** The shard key's own rules, so a key the runtime would refuse fails the synth instead of every run. */
function checkShard(shard: ShardSetting, containers: readonly string[]): void {
  const errors: string[] = [];
  if (!Number.isInteger(shard.count) || shard.count < 2 || shard.count > MAX_INSTANCES) {
    errors.push(`shard.count must be a whole number from 2 to ${MAX_INSTANCES} (got ${JSON.stringify(shard.count)})`);
  }
  if ((shard.index === undefined) === (shard.indexFrom === undefined)) errors.push("shard must have exactly one of index and indexFrom");
  if (shard.index !== undefined && (!Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count)) {
    errors.push(`shard.index must be a whole number from 0 to ${shard.count - 1} (got ${JSON.stringify(shard.index)})`);
  }
  (shard.split ?? []).forEach((c, i) => {
    if (!containers.includes(c)) errors.push(`shard.split[${i}] must be one of the replicated containers (got ${JSON.stringify(c)})`);
  });
  if (errors.length) throw new Error(`invalid shard setting:\n${errors.map((e) => `  - ${e}`).join("\n")}`);
}
