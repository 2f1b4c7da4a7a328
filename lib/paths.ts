import * as fs from "fs";
import * as path from "path";

/**
 * The repository root: the nearest folder above this module with a package.json. Constructs resolve shipped files
 * (the runtime bundle, the signing script) from it, whether they run from `lib/` (tests) or from a bundle in `build/`.
 */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** The release of this package (package.json's version): stamped into the runtime bundle, the VM's pins and the artifacts. */
export function packageVersion(root: string = repoRoot()): string {
  return (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;
}
