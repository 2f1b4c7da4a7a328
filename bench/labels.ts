import { ToolName } from "./peers/peer";

/** How each tool is run, for the report's table. */
export const PEERS_LABELS: Record<ToolName, string> = {
  recipe: "`azcopy sync` source → local folder → target (`--from-to BlobLocal`/`LocalBlob`, `--delete-destination=true`, `AZCOPY_DEFAULT_SERVICE_API_VERSION=2017-11-09`, `--log-level=ERROR`), default concurrency",
  rclone: "`rclone sync` source → local folder → target, azureblob remotes from `RCLONE_CONFIG_*` (`sas_url`), `--log-level NOTICE`, default `--transfers 4 --checkers 8`",
  "dr-sync": "`node --max-semi-space-size=2 --heap-growing-percent=25 runtime/dist/dr-sync.js run --config … --json --log-level warn` (the flags of the VM's unit, `runtime/src/config/node-flags.ts`), default config (32 transfers), `allowInsecureHttp: true`",
};
