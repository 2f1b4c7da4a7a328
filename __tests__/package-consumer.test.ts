/**
 * The package as a platform team gets it: `npm pack`, then the tarball installed into a copy of examples/own-app (a
 * CDKTF app of its own), synthesized with that app's own cdktf-cli, and the result read back. Installs come from the
 * npm cache (`npm ci --prefer-offline` with the example's lock file, whose versions are the repository's own).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { PINNED_NODE_PACKAGE } from "../lib/artifact/pinned-node";

const ROOT = resolve(__dirname, "..");
const EXAMPLE = join(ROOT, "examples", "own-app");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string; dependencies: Record<string, string>; optionalDependencies: Record<string, string>; peerDependencies: Record<string, string>;
};
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The environment of a consumer's shell: no node_modules/.bin of ours on PATH, no override of the shipped Node. */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: "1" };
  delete env.DR_SYNC_NODE_BINARY;
  for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
  env.PATH = (env.PATH ?? "").split(delimiter).filter((p) => !p.includes("node_modules")).join(delimiter);
  return env;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = consumerEnv()): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 8 * 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) exited with ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** What may be in the tarball: the built library, the runtime bundle, the signing script, docs, the pinned Node. */
const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^CHANGELOG\.md$/, /^docs\/(upgrading|cdk-future)\.md$/,
  /^dist\/(lib|client|runtime\/src)\/.+\.(js|d\.ts)$/, /^runtime\/dist\/dr-sync\.js(\.sha256)?$/, /^scripts\/sas\/sign-sas\.js$/,
  new RegExp(`^node_modules/${PINNED_NODE_PACKAGE}/`),
];
const FORBIDDEN = [/__tests__|\.test\.|(^|\/)bench\/|(^|\/)tools\//, /(^|\/)environments\//, /\.(pem|key|pfx|tfstate|tfvars)$|(^|\/)\.env|id_rsa|\.npmrc/];

/** The storage emulator's published account key: the Azure SDK in the bundle carries it for development strings. */
const STORAGE_EMULATOR_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const tmp = mkdtempSync(join(tmpdir(), "stackhub-dr-consumer-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the packed module in a CDKTF app of its own", () => {
  let files: string[] = [];
  let tarball = "";
  let app = "";
  let synth: any;

  beforeAll(() => {
    const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], ROOT, { ...process.env }))[0];
    files = packed.files.map((f: { path: string }) => f.path);
    tarball = join(tmp, packed.filename);

    app = join(tmp, "own-app");
    cpSync(EXAMPLE, app, { recursive: true, filter: (src) => !/(node_modules|build|cdktf\.out)$|\.tgz$/.test(src) });
    cpSync(tarball, join(app, `stackhub-dr-${pkg.version}.tgz`));
    const appPkg = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
    appPkg.dependencies["stackhub-dr"] = `file:./stackhub-dr-${pkg.version}.tgz`;
    writeFileSync(join(app, "package.json"), JSON.stringify(appPkg, null, 2));
    const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8"));
    const locked = lock.packages["node_modules/stackhub-dr"];
    // The example's lock names our package's dependencies; a release that changes them must refresh it.
    expect({ dependencies: locked.dependencies, optional: locked.optionalDependencies, peer: locked.peerDependencies })
      .toEqual({ dependencies: pkg.dependencies, optional: pkg.optionalDependencies, peer: pkg.peerDependencies });
    lock.packages[""].dependencies["stackhub-dr"] = appPkg.dependencies["stackhub-dr"];
    Object.assign(locked, { version: pkg.version, resolved: `file:stackhub-dr-${pkg.version}.tgz` });
    writeFileSync(join(app, "package-lock.json"), JSON.stringify(lock, null, 2));

    run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], app);
    run("npx", ["cdktf", "synth"], app);
    synth = JSON.parse(readFileSync(join(app, "cdktf.out", "stacks", "invoices", "cdk.tf.json"), "utf8"));
  }, 10 * 60_000);

  test("the tarball holds only the library, the runtime bundle, its SHA-256, the signing script, docs and the pinned Node", () => {
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    expect(files.filter((f) => !f.startsWith("node_modules/") && FORBIDDEN.some((re) => re.test(f)))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining([
      "dist/lib/index.js", "dist/lib/index.d.ts", "runtime/dist/dr-sync.js", "runtime/dist/dr-sync.js.sha256",
      "scripts/sas/sign-sas.js", "CHANGELOG.md", `node_modules/${PINNED_NODE_PACKAGE}/bin/node`,
    ]));
  });

  test("nothing in our files of the tarball looks like a SAS token or an account key", () => {
    const installed = join(app, "node_modules", "stackhub-dr");
    const ours = files.filter((f) => !f.startsWith("node_modules/"));
    const leaks = ours.flatMap((f) => [...readFileSync(join(installed, f), "utf8").matchAll(/[?&]sig=[A-Za-z0-9%+/]{20,}|AccountKey=[A-Za-z0-9+/]{20,}={0,2}/g)]
      .map((m) => m[0]).filter((m) => m !== `AccountKey=${STORAGE_EMULATOR_KEY}`).map((m) => `${f}: ${m.slice(0, 16)}...`));
    expect(leaks).toEqual([]);
  });

  test("the installed runtime bundle matches its SHA-256 and reports the package's version", () => {
    const installed = join(app, "node_modules", "stackhub-dr");
    const bundle = join(installed, "runtime", "dist", "dr-sync.js");
    expect(readFileSync(`${bundle}.sha256`, "utf8")).toBe(`${sha256(bundle)}  dr-sync.js\n`);
    const node = join(installed, "node_modules", PINNED_NODE_PACKAGE, "bin", "node");
    expect(execFileSync(node, [bundle, "--version"], { encoding: "utf8" }).trim()).toBe(pkg.version);
  });

  test("installing the module puts no `node` of ours on the consumer's PATH", () => {
    expect(existsSync(join(app, "node_modules", ".bin", "node"))).toBe(false);
  });

  test("the consumer's own resource and the pair's resources are in its stack", () => {
    const names = (type: string) => Object.values<any>(synth.resource[type] ?? {}).map((r) => r.name).sort();
    expect(names("azurestack_resource_group")).toEqual(["contoso-inv-app", "contoso-inv-dr-data", "contoso-inv-dr-data", "contoso-inv-dr-vm"]);
    expect(names("azurestack_storage_account")).toEqual(["contosoinveast", "contosoinvwest"]);
    expect(names("azurestack_storage_container")).toEqual([
      "dr-sync-artifacts", "dr-sync-status", "dr-sync-status", "invoices", "invoices", "receipts", "receipts",
    ]);
    expect(names("azurestack_linux_virtual_machine")).toEqual(["contoso-inv-dr-vm"]);
    expect(Object.keys(synth.resource.azurestack_virtual_machine_extension ?? {})).toHaveLength(1);
    // The pair's providers are aliased by role; the app's own stays the default one.
    expect(synth.provider.azurestack.map((p: { alias?: string }) => p.alias ?? "(default)").sort()).toEqual(["(default)", "source", "target"]);
  });

  test("the consumer's naming prefix and tags are on everything of the pair that has a name or tags", () => {
    const named = ["azurestack_linux_virtual_machine", "azurestack_managed_disk", "azurestack_network_interface", "azurestack_network_security_group", "azurestack_virtual_network"];
    for (const type of named) {
      for (const r of Object.values<any>(synth.resource[type])) expect(r.name).toMatch(/^contoso-inv-dr-/);
    }
    const tagged = Object.entries<any>(synth.resource).flatMap(([type, rs]) => Object.values<any>(rs).filter((r) => "tags" in r).map((r) => [type, r.tags]));
    expect(tagged.length).toBeGreaterThanOrEqual(12);
    for (const [type, tags] of tagged) expect([type, tags]).toEqual([type, { owner: "platform-team", "cost-center": "cc-4711" }]);
  });

  test("the VM gets the pinned Node.js from the package (not the synthesizing node) and the runtime, both stamped with the release", () => {
    const blobs = Object.values<any>(synth.resource.azurestack_storage_blob).filter((b) => b.storage_container_name === "dr-sync-artifacts");
    const pinned = join(app, "node_modules", "stackhub-dr", "node_modules", PINNED_NODE_PACKAGE, "bin", "node");
    const bundle = join(app, "node_modules", "stackhub-dr", "runtime", "dist", "dr-sync.js");
    expect(blobs.map((b) => b.name).sort()).toEqual([`dr-sync/${sha256(bundle)}/dr-sync.js`, `node/${sha256(pinned)}/node`]);
    expect(blobs.map((b) => b.metadata)).toEqual([{ release: pkg.version }, { release: pkg.version }]);
    expect(JSON.parse(readFileSync(join(app, "node_modules", "stackhub-dr", "node_modules", PINNED_NODE_PACKAGE, "package.json"), "utf8")).version)
      .toBe(pkg.optionalDependencies[PINNED_NODE_PACKAGE]);
  });
});
