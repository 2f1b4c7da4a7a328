/** The release, replaced by esbuild's `define` with package.json's version when the bundle is built. */
declare const __DR_SYNC_VERSION__: string | undefined;

/**
 * The release this runtime belongs to: `dr-sync --version`, the status record and the VM's pins file show it, so an
 * operator sees which release each site runs. Unbundled code (in-process unit tests) is not a release: "0.0.0-dev".
 */
export const VERSION: string = typeof __DR_SYNC_VERSION__ === "string" ? __DR_SYNC_VERSION__ : "0.0.0-dev";
