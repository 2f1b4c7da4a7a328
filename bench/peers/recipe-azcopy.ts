import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../project-root";
import { promisify } from "node:util";
import { parseAzCopyJson } from "./output-parsers";
import { cleanEnv, Hop, PeerContext, PeerFactory, redactor, runHops } from "./peer";

/** Where scripts/bench-setup.sh installs @azure-tools/azcopy-linux (outside the project's node_modules). */
export const AZCOPY_DIR = join(projectRoot(), "bench", ".tools", "node_modules", "@azure-tools", "azcopy-linux", "dist", "bin");

export function azcopyPath(): string | null {
  if (process.env.BENCH_AZCOPY) return process.env.BENCH_AZCOPY;
  if (!existsSync(AZCOPY_DIR)) return null;
  const bin = readdirSync(AZCOPY_DIR).find((f) => f.startsWith("azcopy_linux_"));
  return bin ? join(AZCOPY_DIR, bin) : null;
}

/**
 * The recipe: `azcopy sync` source → local folder, then local folder → target, both with
 * `--delete-destination=true` and the service version pinned for Azure Stack Hub.
 */
export const recipe: PeerFactory = {
  name: "recipe",
  label: "recipe (AzCopy sync ×2)",
  missing() {
    const bin = azcopyPath();
    return bin && existsSync(bin) ? null : "AzCopy not installed (run scripts/bench-setup.sh)";
  },
  async version() {
    const { stdout } = await promisify(execFile)(azcopyPath()!, ["--version"]);
    return stdout.trim().replace(/^azcopy version\s*/i, "AzCopy ");
  },
  async create(ctx: PeerContext) {
    const bin = azcopyPath()!;
    const stage = join(ctx.workDir, "staging");
    const logs = join(ctx.workDir, "azcopy-logs");
    const plans = join(ctx.workDir, "azcopy-plans");
    for (const d of [stage, logs, plans]) mkdirSync(d, { recursive: true });
    // AzCopy reads its login and tuning from AZCOPY_* variables; only the ones the recipe sets are passed.
    const env = {
      ...cleanEnv(["AZCOPY_"]),
      AZCOPY_DEFAULT_SERVICE_API_VERSION: "2017-11-09",
      AZCOPY_LOG_LOCATION: logs,
      AZCOPY_JOB_PLAN_LOCATION: plans,
      // No syslog daemon on a bench machine; the recipe's VM would have one, which only costs a little more.
      AZCOPY_DISABLE_SYSLOG: "true",
    };
    const url = (port: number, account: string, sas: string) => `http://127.0.0.1:${port}/${account}/${ctx.container}?${sas}`;
    const common = ["--delete-destination=true", "--log-level=ERROR", "--check-version=false", "--output-type=json"];
    const counts = (m: { stdout: string }) => parseAzCopyJson(m.stdout);
    const hops: Hop[] = [
      { cmd: bin, args: ["sync", url(ctx.srcPort, ctx.srcAccount, ctx.srcSas), stage, "--from-to", "BlobLocal", ...common], env, counts },
      { cmd: bin, args: ["sync", stage, url(ctx.dstPort, ctx.dstAccount, ctx.dstSas), "--from-to", "LocalBlob", ...common], env, counts },
    ];
    const redact = redactor(ctx.srcSas, ctx.dstSas);
    return { cycle: () => runHops(hops, redact) };
  },
};
