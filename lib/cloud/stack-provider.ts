import { TerraformProvider, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { ExternalProvider } from "@cdktf/provider-external/lib/provider";
import { TimeProvider } from "@cdktf/provider-time/lib/provider";

/**
 * The one unaliased provider of a kind in a stack, created on first use: constructs that need `time` or `external`
 * work the same in a full stack and in a test scope.
 */
function singleton(scope: Construct, id: string, make: (stack: TerraformStack) => TerraformProvider): TerraformProvider {
  const stack = TerraformStack.of(scope);
  return (stack.node.tryFindChild(id) as TerraformProvider | undefined) ?? make(stack);
}

export function timeProvider(scope: Construct): TerraformProvider {
  return singleton(scope, "time", (stack) => new TimeProvider(stack, "time"));
}

export function externalProvider(scope: Construct): TerraformProvider {
  return singleton(scope, "external", (stack) => new ExternalProvider(stack, "external"));
}
