import { PropProblems, RULES, show } from "../validation/prop-rules";
import { ScaleOut, usableAddresses, vmSubnet } from "./shard-plan";

/**
 * The checks that tie `instances` to the other VM props, shared by the constructs and the environment file:
 * every NIC needs an address of the subnet, and a scale set has no public IP setting on Stack Hub.
 */
export function checkScaleOut(
  props: { readonly instances?: number; readonly scaleOut?: ScaleOut; readonly addressSpace?: string; readonly publicIp?: boolean },
  problems: PropProblems,
): void {
  const instances = props.instances ?? 1;
  if (!RULES.instances.test(instances)) return;
  const space = props.addressSpace ?? "10.70.0.0/24";
  if (RULES.addressSpace.test(space)) {
    const room = usableAddresses(vmSubnet(space).length);
    if (instances > room) problems.add(`instances must be at most ${room}, the addresses the subnet of addressSpace ${show(space)} holds (got ${instances})`);
  }
  if (props.publicIp && instances > 1 && props.scaleOut === "scale-set") {
    problems.add(`publicIp is not available with scaleOut "scale-set" (the azurestack scale set has no public IP setting); use scaleOut "vms" (got publicIp true)`);
  }
}

/** `shardSplit`: containers of the pair, and only when there are shards to split them across. */
export function checkShardSplit(split: unknown, containers: readonly string[], instances: number, problems: PropProblems, key = "shardSplit"): void {
  if (split === undefined) return;
  if (!Array.isArray(split)) {
    problems.add(`${key} must be an array of container names (got ${show(split)})`);
    return;
  }
  if (split.length && instances === 1) {
    problems.add(`${key} needs vm.instances above 1 (got ${show(split)} with vm.instances 1)`);
    return;
  }
  split.forEach((c, i) => {
    if (typeof c !== "string" || !containers.includes(c)) problems.add(`${key}[${i}] must be one of containers (got ${show(c)})`);
    else if (split.indexOf(c) !== i) problems.add(`${key}[${i}] repeats ${show(c)}`);
  });
}
