import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, lstatSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { BlockBlobClient, newPipeline, StorageSharedKeyCredential } from "@azure/storage-blob";
import { objectKey } from "../../runtime/src/staging/object-path";
import { apiVersionPolicy } from "../../runtime/src/storage/api-version-policy";
import { encodeBlobName } from "../../runtime/src/storage/site-client";
import { LocalSite } from "../../tools/azurite/local-sites";
import { stagedFiles } from "./staged-index";
import { BlobSnapshot, Drill, RunResult, SeedBlob } from "./harness";

export { mulberry32 } from "../../tools/fault-proxy/fault-proxy";

export function sha256(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

/**
 * Counts a fault test writes for docs/reliability.md: one JSON file per test file under
 * `$DRSYNC_FAULT_FIGURES` (default `<tmp>/drsync-fault-figures`), summed by hand into the doc.
 */
export class Figures {
  private readonly counts: Record<string, number> = {};
  constructor(private readonly file: string) {}

  add(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  write(): void {
    const dir = process.env.DRSYNC_FAULT_FIGURES ?? join(tmpdir(), "drsync-fault-figures");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${this.file}.json`), JSON.stringify({ file: this.file, at: new Date().toISOString(), ...this.counts }, null, 2) + "\n");
  }
}

export interface FileEntry {
  readonly path: string;
  readonly rel: string;
  readonly mode: number;
  readonly size: number;
  readonly dir: boolean;
}

/** Every file and folder under `root` (symlinks not followed), with modes. */
export function walk(root: string): FileEntry[] {
  const out: FileEntry[] = [];
  const visit = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const path = join(dir, n);
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue; // Removed while we looked.
      }
      out.push({ path, rel: relative(root, path), mode: st.mode & 0o777, size: st.size, dir: st.isDirectory() });
      if (st.isDirectory()) visit(path);
    }
  };
  visit(root);
  return out;
}

/** Parsed JSON event lines from a run's stderr; other lines are ignored. */
export function eventsOf(stderr: string): { level: string; event: string; msg: string; [k: string]: unknown }[] {
  return stderr.split("\n").filter((l) => l.startsWith("{")).flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

/** Polls until `cond` holds; fails the test, naming what never happened, after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts a command and SIGKILLs it after `delayMs` (if it is still running); resolves with what it printed. */
export function runKilledAfter(drill: Drill, args: string[], delayMs: number): Promise<RunResult & { killed: boolean }> {
  return new Promise((resolve) => {
    const child = drill.spawn(args);
    let stdout = "";
    let stderr = "";
    let killed = false;
    child.stdout!.on("data", (d) => { stdout += d; });
    child.stderr!.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { killed = child.kill("SIGKILL"); }, delayMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed: killed && signal === "SIGKILL" });
    });
  });
}

/**
 * Problems in a staging folder after a crash, for blobs whose legal contents are known: every `.bin` outside
 * the tmp folders must hold a whole version the source had (a partial file under a final name is a bug), and
 * every committed entry must point at a data file of its size.
 */
export function stagingProblems(stagingDir: string, versions: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const byKey = new Map([...versions.keys()].map((n) => [objectKey(n), n]));
  const problems: string[] = [];
  for (const f of walk(stagingDir)) {
    if (f.dir || f.rel.split("/").includes(".tmp")) continue;
    const base = f.rel.split("/").pop() as string;
    if (base.endsWith(".bin")) {
      const name = byKey.get(base.split(".")[0]);
      if (name === undefined) {
        problems.push(`${f.rel}: data file of an unknown blob`);
        continue;
      }
      if (!versions.get(name)!.has(sha256(readFileSync(f.path)))) problems.push(`${f.rel}: holds no whole version of ${JSON.stringify(name)} (${f.size} bytes)`);
    }
  }
  // Every committed entry points at a data file of exactly its size (what a kill may leave is checked above).
  for (const { containerDir, entry, dataPath } of stagedFiles(stagingDir)) {
    const rel = relative(stagingDir, containerDir);
    let size = -1;
    try {
      size = lstatSync(dataPath).size;
    } catch {
      problems.push(`${rel}: the entry of ${JSON.stringify(entry.name)} points at missing ${entry.dataFile}`);
      continue;
    }
    if (size !== entry.size) problems.push(`${rel}: the entry of ${JSON.stringify(entry.name)} says ${entry.size} bytes, ${entry.dataFile} has ${size}`);
  }
  return problems;
}

/** Lines and files that contain any of the secrets (or their URL-encoded forms), as "where: secret #i". */
export function secretLeaks(secrets: readonly string[], texts: Record<string, string>, dirs: readonly string[]): string[] {
  const forms = secrets.flatMap((s, i) => {
    const sig = new URLSearchParams(s).get("sig") ?? "";
    return [s, encodeURIComponent(s), sig, encodeURIComponent(sig)].filter((f) => f.length >= 8).map((f) => ({ f, i }));
  });
  const leaks: string[] = [];
  const check = (where: string, text: string) => {
    for (const { f, i } of forms) if (text.includes(f)) leaks.push(`${where}: secret #${i}`);
  };
  for (const [where, text] of Object.entries(texts)) check(where, text);
  for (const d of dirs) for (const f of walk(d)) if (!f.dir) check(f.path, readFileSync(f.path, "latin1"));
  return [...new Set(leaks)];
}

/** Mounts a tmpfs of `sizeMiB` at `dir`; false when this machine does not permit it (not root, no CAP_SYS_ADMIN). */
export function mountTmpfs(dir: string, sizeMiB: number, remount = false): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", `${remount ? "remount," : ""}size=${sizeMiB}m,mode=0700`, "tmpfs", dir], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  } catch {
    // Not mounted.
  }
}

/**
 * A key-auth client for one blob whose name is percent-encoded whole, as the runtime does it. The SDK's
 * `getBlockBlobClient` lets URL normalization fold `..` segments away (`../x` would address another container),
 * so tests of hostile names must not use it.
 */
export function exactBlob(site: LocalSite, container: string, name: string): BlockBlobClient {
  const pipeline = newPipeline(new StorageSharedKeyCredential(site.account, site.key), { retryOptions: { maxTries: 2 } });
  pipeline.factories.push(apiVersionPolicy("2017-11-09"));
  return new BlockBlobClient(`${site.blobEndpoint}${container}/${encodeBlobName(name)}`, pipeline);
}

/** Seeds blobs by their exact names (see `exactBlob`). */
export async function seedExact(site: LocalSite, container: string, blobs: readonly SeedBlob[]): Promise<void> {
  await site.container(container).createIfNotExists();
  for (const b of blobs) {
    const body = Buffer.isBuffer(b.body) ? b.body : Buffer.from(b.body);
    await exactBlob(site, container, b.name).upload(body, body.length, { blobHTTPHeaders: { blobContentType: b.contentType }, metadata: b.metadata });
  }
}

/** Like the harness's `snapshot`, but reads each blob by its exact name. */
export async function snapshotExact(site: LocalSite, container: string): Promise<Record<string, BlobSnapshot>> {
  const cc = site.container(container);
  const out: Record<string, BlobSnapshot> = {};
  if (!(await cc.exists())) return out;
  for await (const item of cc.listBlobsFlat({ includeMetadata: true })) {
    const p = item.properties;
    const body = p.contentLength ? await exactBlob(site, container, item.name).downloadToBuffer() : Buffer.alloc(0);
    out[item.name] = {
      size: p.contentLength ?? 0, sha256: sha256(body), contentType: p.contentType || undefined,
      contentMD5: p.contentMD5 ? Buffer.from(p.contentMD5).toString("base64") : undefined, metadata: typeof item.metadata === "object" ? item.metadata : {},
    };
  }
  return out;
}

/**
 * What a stopped run may have done to the target, compared with `before` (its snapshot when the run started): every
 * blob it had still there as it was (nothing deleted or replaced), and blobs gained only under names `before` did
 * not have, each holding a version the source had (new blobs pushed ahead while the pull went on). Returns the
 * problems, and the names gained.
 */
export function targetChangesOfAStoppedRun(before: Record<string, BlobSnapshot>, after: Record<string, BlobSnapshot>,
  versions: ReadonlyMap<string, ReadonlySet<string>>): { problems: string[]; gained: string[] } {
  const problems: string[] = [];
  for (const [name, was] of Object.entries(before)) {
    const now = after[name];
    if (!now) problems.push(`${name}: deleted at the target`);
    else if (JSON.stringify(now) !== JSON.stringify(was)) problems.push(`${name}: replaced at the target`);
  }
  const gained = Object.keys(after).filter((n) => !(n in before));
  for (const name of gained) {
    if (!versions.get(name)?.has(after[name].sha256)) problems.push(`${name}: gained at the target with content the source never had`);
  }
  return { problems, gained };
}
