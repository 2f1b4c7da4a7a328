/** Parsed command line. Pure, so it is tested as a table. */
export interface CliArgs {
  readonly command: string;
  readonly subcommand?: string;
  readonly config?: string;
  readonly json: boolean;
  readonly deep: boolean;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  readonly allowMassDelete: string[];
  readonly allowMassChange: string[];
  readonly container?: string;
  readonly blob?: string;
  readonly to?: "source" | "target";
  readonly out?: string;
  readonly retainedAt?: string;
  /** restore: write into a site whose fence says active. */
  readonly allowActiveSite: boolean;
  /** restore: the whole container (or `prefix`) as it was at this instant. */
  readonly asOf?: string;
  readonly prefix?: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  /** `--shard i/N`: this process's shard (overrides the config's `shard` key). */
  readonly shard?: { readonly index: number; readonly count: number };
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const COMMANDS = ["run", "pull", "push", "plan", "verify", "status", "retention", "restore", "help", "version"] as const;

export const USAGE = `usage: dr-sync <command> --config <file> [options]

commands:
  run        pull (source -> staging), then push (staging -> target), for every container
  pull       source -> staging only
  push       staging -> target only
  plan       what run would copy and delete; changes nothing
  verify     compare target with source (exit 0 when identical, 1 with the differences)
  status     the last run: recovery point, RPO achieved, counts, errors
  retention  list the copies kept in the retention area (retention list [--container C] [--blob NAME])
  restore    put a retained copy back: restore --container C --blob NAME [--to target|source] [--out FILE] [--retained-at ISO]
             [--allow-active-site]; a name starting with "--" is given as --blob=NAME
             restore --container C --as-of TIME [--to target|source] [--prefix P] [--dry-run] [--yes] [--allow-active-site]:
             the container as it was at TIME, from the target's kept versions (needs --yes unless --json)
  version    print the release (also --version)

options:
  --config FILE               the JSON config (required except for help and version)
  --json                      machine-readable output on stdout
  --deep                      verify: compare bytes too (downloads both sides)
  --allow-mass-delete C       lift the delete guard for container C (or "*") for this run only; repeatable
  --allow-mass-change C       lift the mass-change (overwrite) guard for container C (or "*") for this run only; repeatable
  --allow-active-site         restore: write into the site applications use (its fence says active)
  --shard i/N                 run (or verify) shard i of N, i from 0 to N-1 (overrides the config's shard key);
                              status merges all N shards' records
  --log-level L               debug, info (default), warn or error

exit codes: 0 ok, 1 failures (see the summary), 2 bad config or usage, 3 another run holds the lock,
            4 a guard (deletions, mass change) stopped a container, 5 the destination is the active site (its fence), nothing written`;

export function parseArgs(argv: readonly string[]): CliArgs {
  const rest = [...argv];
  const command = rest.shift();
  if (!command || command === "--help" || command === "-h") return { ...defaults(), command: "help" };
  if (command === "--version" || command === "-V") return { ...defaults(), command: "version" };
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  let subcommand: string | undefined;
  if (command === "retention" && rest[0] && !rest[0].startsWith("--")) subcommand = rest.shift();
  const out: { -readonly [K in keyof CliArgs]: CliArgs[K] } = { ...defaults(), command, subcommand };
  // A value given as --flag=value is taken as written, even one that starts with "--" (a blob may be named so).
  let literal: string | undefined;
  const value = (flag: string): string => {
    if (literal !== undefined) {
      const v = literal;
      literal = undefined;
      return v;
    }
    const v = rest.shift();
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value${v?.startsWith("--") ? ` (for a value that starts with "--", write ${flag}=${v})` : ""}`);
    return v;
  };
  while (rest.length) {
    let a = rest.shift() as string;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      literal = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    switch (a) {
      case "--config": out.config = value(a); break;
      case "--json": out.json = true; break;
      case "--allow-active-site": out.allowActiveSite = true; break;
      case "--dry-run": out.dryRun = true; break;
      case "--yes": out.yes = true; break;
      case "--as-of": {
        const v = value(a);
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) {
          throw new UsageError(`--as-of must be an ISO 8601 instant with a time zone, like 2026-12-01T09:00:00Z (got "${v}")`);
        }
        out.asOf = v;
        break;
      }
      case "--prefix": out.prefix = value(a); break;
      case "--shard": out.shard = parseShardFlag(value(a)); break;
      case "--deep": out.deep = true; break;
      case "--allow-mass-delete": out.allowMassDelete.push(value(a)); break;
      case "--allow-mass-change": out.allowMassChange.push(value(a)); break;
      case "--container": out.container = value(a); break;
      case "--blob": out.blob = value(a); break;
      case "--out": out.out = value(a); break;
      case "--retained-at": out.retainedAt = value(a); break;
      case "--to": {
        const v = value(a);
        if (v !== "source" && v !== "target") throw new UsageError(`--to must be "source" or "target" (got "${v}")`);
        out.to = v;
        break;
      }
      case "--log-level": {
        const v = value(a);
        if (!["debug", "info", "warn", "error"].includes(v)) throw new UsageError(`--log-level must be debug, info, warn or error (got "${v}")`);
        out.logLevel = v as CliArgs["logLevel"];
        break;
      }
      default:
        throw new UsageError(`unknown option "${a}"\n\n${USAGE}`);
    }
    if (literal !== undefined) throw new UsageError(`${a} takes no value (got "${a}=${literal}")`);
  }
  if (!["help", "version"].includes(command) && !out.config) throw new UsageError(`${command} needs --config <file>`);
  if (command === "retention" && (subcommand ?? "list") !== "list") throw new UsageError(`unknown retention subcommand "${subcommand}" (only "list")`);
  if (command === "restore") {
    if (!out.container || (out.blob === undefined) === (out.asOf === undefined)) throw new UsageError("restore needs --container and either --blob NAME or --as-of TIME");
    if (out.asOf === undefined && (out.prefix !== undefined || out.dryRun || out.yes)) throw new UsageError("--prefix, --dry-run and --yes go with restore --as-of");
    if (out.asOf !== undefined && (out.out !== undefined || out.retainedAt !== undefined)) throw new UsageError("--out and --retained-at go with restore --blob");
  }
  return out;
}

/** `i/N` with i from 0 to N-1, as Kubernetes' JOB_COMPLETION_INDEX counts. */
export function parseShardFlag(v: string): { index: number; count: number } {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(v);
  if (!m) throw new UsageError(`--shard must be i/N, like 0/3 (got "${v}")`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 1000) throw new UsageError(`--shard i/N needs N from 1 to 1000 (got "${v}")`);
  if (index >= count) throw new UsageError(`--shard i/N needs i from 0 to N-1 (got "${v}")`);
  return { index, count };
}

function defaults(): { -readonly [K in keyof CliArgs]: CliArgs[K] } {
  return { command: "", json: false, deep: false, logLevel: "info", allowMassDelete: [], allowMassChange: [], allowActiveSite: false, dryRun: false, yes: false };
}
