import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, basename } from "node:path";
import { App } from "cdktf";
import { DrSyncConfig } from "../../runtime/src/config/schema";
import { resolveNodeBinary } from "../../lib/artifact/node-binary";
import { loadEnvironment } from "../../lib/environment/load";
import { SiteRole } from "../../lib/environment/schema";
import { DrStack } from "../../lib/stack";
import { FENCE_BLOB } from "../../runtime/src/state/fence";

/** What a deploy of one environment gives the VM and the applications, read from the synthesized stack. */
export interface RenderedEnvironment {
  /** Stack name. */
  readonly name: string;
  readonly activeSite: SiteRole;
  /** The runtime config the VM gets: the stack's `runtime_config` output, parsed. */
  readonly runtimeConfig: DrSyncConfig;
  /** systemd `OnCalendar=` of the VM's timer. */
  readonly schedule: string;
  /** Blob endpoints of the two sites, and the one applications use now (`active_blob_endpoint`). */
  readonly endpoints: { readonly source: string; readonly target: string; readonly active: string };
  /** Direction of replication as the stack states it ("<reading account> -> <writing account>"). */
  readonly replication: string;
  /** The fence blob (`dr-sync-status/fence.json`) the deploy writes into each site, as the stack renders it. */
  readonly fences: { readonly source: FenceBlob; readonly target: FenceBlob };
  /** Why a placeholder stood in for the Node.js binary the stack ships, when one did. */
  readonly nodeBinaryPlaceholder?: string;
}

export interface FenceBlob {
  readonly container: string;
  readonly name: string;
  readonly content: string;
}

/**
 * Synthesizes an environment the way `cdktf synth` does (the same `DrStack`, `App.synth()`), with `activeSite` set
 * in a copy of the environment file, as an operator edits it to declare a disaster or to fail back. Everything is
 * read back from the synthesized outputs, and the runtime config is checked against the construct's own
 * `renderedConfig`, so the drill runs exactly what a deploy would ship. The synth folder is removed afterwards.
 */
export function renderEnvironment(environmentFile: string, activeSite: SiteRole, workDir: string): RenderedEnvironment {
  const raw = JSON.parse(readFileSync(environmentFile, "utf8")) as Record<string, unknown>;
  // The copy keeps the file name: a stack's default name is the file's.
  const envDir = join(workDir, `environment-${activeSite}`);
  mkdirSync(envDir, { recursive: true });
  const copy = join(envDir, basename(environmentFile));
  writeFileSync(copy, JSON.stringify({ ...raw, activeSite }, null, 2) + "\n");
  const environment = loadEnvironment(copy);

  const outdir = mkdtempSync(join(workDir, "cdktf.out-"));
  try {
    const app = new App({ outdir });
    const placeholder = nodeBinaryPlaceholder(workDir);
    const stack = new DrStack(app, { environment, nodeBinary: placeholder?.file });
    app.synth();
    const synthesized = JSON.parse(readFileSync(join(outdir, "stacks", environment.name, "cdk.tf.json"), "utf8")) as {
      output?: Record<string, { value: unknown }>;
      resource?: Record<string, Record<string, Record<string, unknown>>>;
    };
    const fence = (accountName: string): FenceBlob => {
      for (const type of ["azurestack_storage_blob", "azurerm_storage_blob"]) {
        for (const b of Object.values(synthesized.resource?.[type] ?? {})) {
          if (b.name === FENCE_BLOB && b.storage_account_name === accountName) {
            return { container: String(b.storage_container_name), name: FENCE_BLOB, content: String(b.source_content) };
          }
        }
      }
      throw new Error(`the synthesized stack "${environment.name}" has no fence blob for account ${accountName}`);
    };
    const output = (name: string): string => {
      const v = synthesized.output?.[name]?.value;
      if (typeof v !== "string") throw new Error(`the synthesized stack "${environment.name}" has no string output "${name}"`);
      return v;
    };
    const renderedConfig = output("runtime_config");
    if (renderedConfig !== stack.pair.renderedConfig) {
      throw new Error(`the stack's runtime_config output differs from DrPair.renderedConfig of "${environment.name}"`);
    }
    return {
      name: environment.name,
      activeSite: stack.pair.activeSite,
      runtimeConfig: JSON.parse(renderedConfig) as DrSyncConfig,
      schedule: output("schedule"),
      endpoints: { source: output("source_blob_endpoint"), target: output("target_blob_endpoint"), active: output("active_blob_endpoint") },
      replication: output("replication"),
      fences: { source: fence(stack.pair.source.accountName), target: fence(stack.pair.target.accountName) },
      nodeBinaryPlaceholder: placeholder?.reason,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The Node.js binary a stack ships to the VM only feeds an artifact and its hash, never the runtime config. On a
 * machine that has no linux-x64 binary to give (a Mac, without DR_SYNC_NODE_BINARY), the drill hands the constructs
 * a placeholder with a linux-x64 ELF header, so the drill runs anywhere; the stack it synthesizes is read, never
 * deployed. Where a real binary resolves, the constructs use it as `npm run synth` would.
 */
function nodeBinaryPlaceholder(workDir: string): { file: string; reason: string } | undefined {
  try {
    resolveNodeBinary();
    return undefined;
  } catch (err) {
    const file = join(workDir, "node-placeholder");
    const elf = Buffer.alloc(64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2; // 64-bit
    elf[5] = 1; // little endian
    elf.writeUInt16LE(0x3e, 18); // x86-64
    writeFileSync(file, elf);
    return { file, reason: (err as Error).message };
  }
}
