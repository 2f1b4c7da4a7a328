import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../project-root";
import { promisify } from "node:util";
import { parseDrSyncStatus } from "./output-parsers";
import { Hop, PeerContext, PeerFactory, redactor, runHops } from "./peer";
import { pinnedNodeBinary } from "../../lib/artifact/pinned-node";

/** The bundle the VM runs; `npm run build` makes it. */
export const DR_SYNC_BUNDLE = join(projectRoot(), "runtime", "dist", "dr-sync.js");

/**
 * dr-sync: one `run` (pull, then push) with the built bundle and a config file, started as the contract says,
 * `node dr-sync.js run --config F`: default log level, stderr a pipe (so JSON lines at info), the human summary on
 * stdout. The counts come from the status record the run writes, not from `--json`.
 */
export const drSync: PeerFactory = {
  name: "dr-sync",
  label: "dr-sync run",
  missing() {
    return existsSync(DR_SYNC_BUNDLE) ? null : `${DR_SYNC_BUNDLE} not built (npm run build)`;
  },
  async version() {
    const { stdout } = await promisify(execFile)(pinnedNodeBinary(), [DR_SYNC_BUNDLE, "version"]);
    return `dr-sync ${stdout.trim()}`;
  },
  async create(ctx: PeerContext) {
    mkdirSync(ctx.workDir, { recursive: true });
    const configPath = join(ctx.workDir, "dr-sync.json");
    const config = {
      source: { blobEndpoint: `http://127.0.0.1:${ctx.srcPort}/${ctx.srcAccount}/`, sasEnv: "DR_SOURCE_SAS" },
      target: { blobEndpoint: `http://127.0.0.1:${ctx.dstPort}/${ctx.dstAccount}/`, sasEnv: "DR_TARGET_SAS" },
      containers: [ctx.container],
      stagingDir: join(ctx.workDir, "staging"),
      stateDir: join(ctx.workDir, "state"),
      allowInsecureHttp: true,
    };
    writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
    const env = { ...process.env, DR_SOURCE_SAS: ctx.srcSas, DR_TARGET_SAS: ctx.dstSas };
    const statusFile = join(config.stateDir, "status.json");
    const hops: Hop[] = [{
      cmd: pinnedNodeBinary(), args: [...(ctx.drSyncNodeFlags ?? []), DR_SYNC_BUNDLE, "run", "--config", configPath], env,
      counts: () => parseDrSyncStatus(existsSync(statusFile) ? readFileSync(statusFile, "utf8") : ""),
    }];
    const redact = redactor(ctx.srcSas, ctx.dstSas);
    return { cycle: () => runHops(hops, redact) };
  },
};
