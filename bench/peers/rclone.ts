import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseRcloneJsonLog } from "./output-parsers";
import { cleanEnv, Hop, PeerContext, PeerFactory, redactor, runHops } from "./peer";

const RCLONE = process.env.BENCH_RCLONE ?? "rclone";

/**
 * rclone: `rclone sync` source → local folder, then local folder → target. Remotes come from environment
 * variables. rclone 1.60 (Debian 12) treats `endpoint` as a host suffix (`https://<account>.<endpoint>`), so
 * the only way to reach a path-style http endpoint is an account SAS URL (`sas_url`).
 */
export const rclone: PeerFactory = {
  name: "rclone",
  label: "rclone sync ×2",
  missing() {
    try {
      require("node:child_process").execFileSync(RCLONE, ["version"], { stdio: "ignore" });
      return null;
    } catch {
      return "rclone not installed (run scripts/bench-setup.sh)";
    }
  },
  async version() {
    const { stdout } = await promisify(execFile)(RCLONE, ["version"]);
    return stdout.split("\n")[0].trim();
  },
  async create(ctx: PeerContext) {
    const stage = join(ctx.workDir, "staging");
    mkdirSync(stage, { recursive: true });
    const config = join(ctx.workDir, "rclone.conf");
    writeFileSync(config, "");
    const env = {
      ...cleanEnv(["RCLONE_"]),
      RCLONE_CONFIG: config,
      RCLONE_CONFIG_SRC_TYPE: "azureblob",
      RCLONE_CONFIG_SRC_SAS_URL: `http://127.0.0.1:${ctx.srcPort}/${ctx.srcAccount}?${ctx.srcSas}`,
      RCLONE_CONFIG_DST_TYPE: "azureblob",
      RCLONE_CONFIG_DST_SAS_URL: `http://127.0.0.1:${ctx.dstPort}/${ctx.dstAccount}?${ctx.dstSas}`,
    };
    const common = ["--log-level", "NOTICE", "--stats-log-level", "NOTICE", "--stats", "1h", "--use-json-log"];
    const counts = (m: { stderr: string }) => parseRcloneJsonLog(m.stderr);
    const hops: Hop[] = [
      { cmd: RCLONE, args: ["sync", `src:${ctx.container}`, stage, ...common], env, counts },
      { cmd: RCLONE, args: ["sync", stage, `dst:${ctx.container}`, ...common], env, counts },
    ];
    const redact = redactor(ctx.srcSas, ctx.dstSas);
    return { cycle: () => runHops(hops, redact) };
  },
};
