/** What one drill does. Every field has a default, so `npm start` needs no flags. */
export interface DrillOptions {
  /** Environment file whose stack is synthesized; its runtime config and schedule drive the drill.
   *  @default "<repo>/environments/example.json" */
  readonly environmentFile?: string;
  /** Replication cycles before the disaster; source data changes between them.
   *  @default 3 */
  readonly cycles: number;
  /** Small blobs seeded per container.
   *  @default 40 */
  readonly blobsPerContainer: number;
  /** Sizes of the large blobs, in MiB (fractions allowed), seeded into the first container.
   *  @default [24, 24] */
  readonly largeBlobsMiB: readonly number[];
  /** Seed of the generator that picks names, sizes and changes, so a failing drill can be replayed.
   *  @default 1 */
  readonly seed: number;
  /** Print the report as JSON instead of text. @default false */
  readonly json: boolean;
  /** The runtime's own progress display on stderr. @default true when stderr is a terminal */
  readonly tty: boolean;
}

export const DRILL_DEFAULTS: DrillOptions = {
  cycles: 3,
  blobsPerContainer: 40,
  largeBlobsMiB: [24, 24],
  seed: 1,
  json: false,
  tty: false,
};

export const DRILL_USAGE = `usage: npm start -- [options]      (or: node build/drill.js [options])

Runs a whole disaster-recovery drill on this machine: two local storage sites (Azurite), the runtime config
synthesized from an environment, replication cycles, a disaster, failover, failback. No cloud, no credentials.

options:
  --environment FILE   environment file to synthesize (default environments/example.json)
  --cycles N           replication cycles before the disaster, 2-20 (default 3)
  --blobs N            small blobs per container, 10-5000 (default 40)
  --large-mib LIST     sizes of the large blobs in MiB, comma-separated, "" for none (default 24,24)
  --seed N             seed of the sample data and changes (default 1)
  --json               print the report as JSON
  --help               this text

exit codes: 0 the drill passed; 1 a step failed (the message names it); 2 bad options`;

export class DrillUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DrillUsageError";
  }
}

/** Parses the drill's flags; collects every problem before throwing, so one correction fixes the command line. */
export function parseDrillArgs(argv: readonly string[], isTty = false): DrillOptions | "help" {
  const out: { -readonly [K in keyof DrillOptions]: DrillOptions[K] } = { ...DRILL_DEFAULTS, tty: isTty };
  const errors: string[] = [];
  const rest = argv.flatMap((a) => (a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a]));
  const value = (flag: string): string | undefined => {
    const v = rest.shift();
    if (v === undefined || (v.startsWith("--") && v !== "")) {
      errors.push(`${flag} needs a value`);
      if (v !== undefined) rest.unshift(v);
      return undefined;
    }
    return v;
  };
  const int = (flag: string, min: number, max: number): number | undefined => {
    const v = value(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`${flag} must be a whole number from ${min} to ${max} (got "${v}")`);
      return undefined;
    }
    return n;
  };
  while (rest.length) {
    const a = rest.shift() as string;
    switch (a) {
      case "--help": case "-h": return "help";
      case "--json": out.json = true; break;
      case "--environment": out.environmentFile = value(a) ?? out.environmentFile; break;
      case "--cycles": out.cycles = int(a, 2, 20) ?? out.cycles; break;
      case "--blobs": out.blobsPerContainer = int(a, 10, 5000) ?? out.blobsPerContainer; break;
      case "--seed": out.seed = int(a, 0, 2 ** 31 - 1) ?? out.seed; break;
      case "--large-mib": {
        const v = value(a);
        if (v === undefined) break;
        const sizes = v.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
        if (sizes.some((s) => !Number.isFinite(s) || s <= 0 || s > 4096)) errors.push(`--large-mib must list sizes in MiB above 0 and up to 4096 (got "${v}")`);
        else out.largeBlobsMiB = sizes;
        break;
      }
      default: errors.push(`unknown option "${a}"`);
    }
  }
  if (errors.length) throw new DrillUsageError(`${errors.join("\n")}\n\n${DRILL_USAGE}`);
  return out;
}
