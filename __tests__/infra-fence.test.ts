import { environmentFrom, exampleAzure, exampleRaw, synth } from "./infra-helpers";

/** The fence blobs of a synthesized stack, by storage account. */
function fences(json: any): Record<string, { role: string; environment?: string }> {
  const out: Record<string, { role: string }> = {};
  for (const type of ["azurestack_storage_blob", "azurerm_storage_blob"]) {
    for (const b of Object.values<any>(json.resource?.[type] ?? {})) {
      if (b.name !== "fence.json") continue;
      expect(b.storage_container_name).toBe("dr-sync-status");
      out[b.storage_account_name] = JSON.parse(b.source_content);
    }
  }
  return out;
}

describe("site fences", () => {
  test("normally the source is active and the target, where the runtime writes, is passive", () => {
    const { json, stack } = synth(environmentFrom(exampleRaw()));
    const f = fences(json);
    expect(f[stack.pair.source.accountName].role).toBe("active");
    expect(f[stack.pair.target.accountName].role).toBe("passive");
    expect(stack.pair.runtimeConfig.target.blobEndpoint).toBe(stack.pair.target.blobEndpoint);
  });

  test("declaring a disaster marks the target active, so a VM with the old direction cannot overwrite it", () => {
    const raw = exampleRaw();
    raw.activeSite = "target";
    const { json, stack } = synth(environmentFrom(raw));
    const f = fences(json);
    expect(f[stack.pair.target.accountName].role).toBe("active");
    expect(f[stack.pair.source.accountName].role).toBe("passive");
    // The runtime now writes into the source, which is passive.
    expect(stack.pair.runtimeConfig.target.blobEndpoint).toBe(stack.pair.source.blobEndpoint);
  });

  test("on public Azure the fence is an azurerm blob, in the status container the runtime writes to", () => {
    const { json, stack } = synth(exampleAzure());
    expect(Object.values<any>(json.resource.azurerm_storage_blob).some((b) => b.name === "fence.json")).toBe(true);
    expect(stack.pair.runtimeConfig.statusContainer).toBe("dr-sync-status");
  });
});
