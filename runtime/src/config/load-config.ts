import { promises as fs } from "node:fs";
import { ConfigError, ResolvedConfig, validateConfig } from "./schema";

export interface LoadedConfig {
  readonly config: ResolvedConfig;
  readonly sourceSas: string;
  readonly targetSas: string;
  /** Things worth telling the operator that do not stop the run (a SAS about to expire, a readable config). */
  readonly warnings: string[];
}

/**
 * Permissions each side's SAS needs, by letter of `sp`. The target's includes delete even with
 * `deleteDestination: false`: page and append blobs are written through a scratch blob that dr-sync deletes
 * afterwards, and without it every change would leave a full-size copy behind.
 */
export function requiredPermissions(side: "source" | "target", _config: ResolvedConfig): string {
  return side === "source" ? "rl" : "rlwcd";
}

/**
 * Reads and validates the config file, then the SAS tokens from the variables it names. Every problem names the
 * file, the key or the variable; secrets never appear in a message.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv, now: Date = new Date()): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError([`cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`not valid JSON: ${(err as Error).message}`], file);
  }
  const config = validateConfig(raw, file);
  const warnings: string[] = [];
  const problems: string[] = [];
  const sas = (side: "source" | "target"): string => {
    const varName = config[side].sasEnv;
    const value = env[varName];
    if (value === undefined || value.trim() === "") {
      problems.push(`${side}.sasEnv: environment variable ${varName} is not set (it must hold the ${side} site's SAS token)`);
      return "";
    }
    problems.push(...checkSas(side, varName, value.trim(), requiredPermissions(side, config), now, warnings));
    return value.trim().replace(/^\?/, "");
  };
  const sourceSas = sas("source");
  const targetSas = sas("target");
  if (problems.length) throw new ConfigError(problems, file);
  try {
    const st = await fs.stat(file);
    if (st.mode & 0o022) warnings.push(`${file} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); 0600 is expected`);
  } catch {
    // Read above; a stat failure now changes nothing.
  }
  return { config, sourceSas, targetSas, warnings };
}

/**
 * Checks a SAS token's shape, time window and permissions without printing it. Only the query parameters the
 * runtime needs to judge are read; the signature is the service's business.
 */
export function checkSas(side: string, varName: string, token: string, needed: string, now: Date, warnings: string[]): string[] {
  const problems: string[] = [];
  const q = new URLSearchParams(token.replace(/^\?/, ""));
  if (!q.get("sig")) {
    problems.push(`${side}.sasEnv: ${varName} does not look like a SAS token (no sig= parameter); give the query string of a SAS, not an account key or URL`);
    return problems;
  }
  const se = q.get("se");
  if (se) {
    const expiry = Date.parse(se);
    if (!Number.isNaN(expiry)) {
      if (expiry <= now.getTime()) problems.push(`${side}.sasEnv: the SAS in ${varName} expired at ${se}; issue a new one (nothing was touched)`);
      else if (expiry - now.getTime() < 7 * 86400000) warnings.push(`the ${side} SAS in ${varName} expires at ${se}, within 7 days; rotate it`);
    }
  }
  const sp = q.get("sp");
  if (sp !== null) {
    const missing = [...needed].filter((p) => !sp.includes(p));
    if (missing.length) {
      const names: Record<string, string> = { r: "read", l: "list", w: "write", c: "create", d: "delete", a: "add" };
      const why = side === "target" && missing.includes("d") ? "; delete is needed even with deleteDestination false, to remove dr-sync's scratch copies of page and append blobs" : "";
      problems.push(`${side}.sasEnv: the SAS in ${varName} lacks ${missing.map((m) => `${names[m]} (${m})`).join(", ")}; the ${side} side needs "${needed}"${why} (nothing was touched)`);
    }
  }
  return problems;
}
