// Bundles the runtime into one file that runs with plain `node` (no node_modules beside it), plus the
// drill and bench entry points that start local Azurite sites.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from "node:fs";

// Some dependencies ship ESM that reads import.meta.url; in a CommonJS bundle that is the bundle's own file.
const importMetaShim = { "import.meta.url": "__drsync_import_meta_url" };
const banner = { js: "const __drsync_import_meta_url = require(\"node:url\").pathToFileURL(__filename).href;" };

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  define: importMetaShim,
  banner,
  logLevel: "warning",
  legalComments: "none",
  sourcemap: false,
};

mkdirSync("runtime/dist", { recursive: true });
await build({
  ...common,
  entryPoints: ["runtime/src/cli/main.ts"],
  outfile: "runtime/dist/dr-sync.js",
  minifySyntax: true,
  banner: { js: "#!/usr/bin/env node\n" + banner.js },
});
chmodSync("runtime/dist/dr-sync.js", 0o755);
const sha = createHash("sha256").update(readFileSync("runtime/dist/dr-sync.js")).digest("hex");
writeFileSync("runtime/dist/dr-sync.js.sha256", `${sha}  dr-sync.js\n`);

const tools = [
  ["tools/drill/main.ts", "build/drill.js"],
  ["bench/main.ts", "build/bench.js"],
];
for (const [entry, outfile] of tools) {
  try { readFileSync(entry); } catch { continue; }
  // Azurite is started from node_modules as its own process; it is not bundled.
  await build({ ...common, entryPoints: [entry], outfile, external: ["azurite"] });
}
