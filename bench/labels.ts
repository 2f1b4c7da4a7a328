import { ToolName } from "./peers/peer";

/** How each tool is run, for the report's table; dr-sync's line names its Node.js flags when it ran with some. */
export function peerLabel(tool: ToolName, drSyncNodeFlags: readonly string[] = []): string {
  if (tool !== "dr-sync" || !drSyncNodeFlags.length) return PEERS_LABELS[tool];
  return PEERS_LABELS[tool].replace("`node runtime", `\`node ${drSyncNodeFlags.join(" ")} runtime`).replace("as the contract starts it", "with the VM unit's flags (`runtime/src/config/node-flags.ts`)");
}

/** How each tool is run, for the report's table. */
export const PEERS_LABELS: Record<ToolName, string> = {
  recipe: "`azcopy sync` source → local folder → target (`--from-to BlobLocal`/`LocalBlob`, `--delete-destination=true`, `AZCOPY_DEFAULT_SERVICE_API_VERSION=2017-11-09`, `--log-level=ERROR`), default concurrency",
  rclone: "`rclone sync` source → local folder → target, azureblob remotes from `RCLONE_CONFIG_*` (`sas_url`), `--log-level NOTICE`, default `--transfers 4 --checkers 8`",
  "dr-sync": "`node runtime/dist/dr-sync.js run --config …` as the contract starts it (the pinned Node.js, default log level, stderr a pipe: JSON lines), default config (32 transfers), `allowInsecureHttp: true`",
};
