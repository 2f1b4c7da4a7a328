import { Fn } from "cdktf";

/** The CustomScript extension that runs the settings script: a VM's extension resource and a scale set's block. */
export function settingsExtension(script: string) {
  return {
    publisher: "Microsoft.Azure.Extensions",
    type: "CustomScript",
    // 2.0 is the version Stack Hub marketplaces carry; Azure upgrades it to the newest 2.x.
    typeHandlerVersion: "2.0",
    autoUpgradeMinorVersion: true,
    protectedSettings: Fn.jsonencode({ script: Fn.base64encode(script) }),
  };
}
