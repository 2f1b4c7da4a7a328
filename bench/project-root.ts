import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The project's root folder, found from wherever this code runs: bench/ under ts-jest, build/ as the bundle.
 */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && /"name":\s*"stackhub-dr"/.test(readFileSync(pkg, "utf8"))) return dir;
    if (dirname(dir) === dir) throw new Error(`bench: no stackhub-dr package.json above ${from}`);
  }
}
