import * as fs from "fs";
import * as path from "path";
import { ResolvedEnvironment } from "./schema";
import { EnvironmentError, validateEnvironment } from "./validate";

/**
 * Reads and validates every `*.json` file of a folder, in name order. A file that does not parse or validate fails the
 * whole load, with every problem of every file, so one synth shows all of them.
 */
export function loadEnvironments(dir: string): ResolvedEnvironment[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  if (files.length === 0) throw new EnvironmentError([`no environment files (*.json) in ${dir}`]);
  const loaded: ResolvedEnvironment[] = [];
  const problems: string[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    try {
      loaded.push(loadEnvironment(file));
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  const names = loaded.map((e) => e.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) problems.push(`two environment files name the stack "${n}"`);
  });
  if (problems.length) throw new Error(problems.join("\n"));
  return loaded;
}

export function loadEnvironment(file: string): ResolvedEnvironment {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new EnvironmentError([`not valid JSON: ${(err as Error).message}`], file);
  }
  return validateEnvironment(raw, path.basename(file, ".json"), file);
}
