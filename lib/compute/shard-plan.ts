import { DrSyncConfig, renderConfig, ShardConfig } from "../../runtime/src/config/schema";

/** How N intermediaries are deployed: one scale set, or N plain VMs. */
export type ScaleOut = "scale-set" | "vms";
export const SCALE_OUT_MODES: readonly ScaleOut[] = ["scale-set", "vms"];

/** The runtime's `shard` config key (runtime/src/config/schema.ts is the one place its rules live). */
export type ShardSetting = ShardConfig;

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
 * The config file of one machine: the pair's config with the machine's `shard` key last, validated by the
 * runtime's own schema (a key the runtime would refuse fails the synth instead of every run). Without a shard the
 * text is that of the pair's config, byte for byte.
 */
export function renderShardedConfig(config: DrSyncConfig, shard: ShardSetting | undefined): string {
  return renderConfig(shard ? { ...config, shard } : config);
}
