/**
 * What a deploy hands the intermediary VM, taken from the synthesized stack itself (`cdk.tf.json` and its assets, as
 * `npm run synth` writes them), and the few steps of `terraform apply` the VM depends on, done against Azurite:
 * the containers, the fence blobs and the artifact blobs (from the stack's own asset files), the SAS tokens (by the
 * stack's own signer program with the query its `external` data sources pass), and the extension's protected
 * settings (the synthesized expression, evaluated).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "cdktf";
import { loadEnvironment } from "../../lib/environment/load";
import { DrStack } from "../../lib/stack";
import { LocalSite } from "../../tools/azurite/local-sites";

type Block = Record<string, any>;

export interface Deployment {
  readonly stackDir: string;
  readonly json: { resource: Record<string, Record<string, Block>>; data?: Record<string, Record<string, Block>>; output?: Record<string, { value: unknown }> };
  /** custom_data of the VM, decoded: the cloud-init user data. */
  readonly userData: string;
  /** The VM extension's resource (publisher, type, protected_settings expression). */
  readonly extension: Block;
  readonly stack: DrStack;
}

/** Synthesizes an environment (raw environment-file JSON) the way `cdktf synth` does, into `dir`. */
export function synthEnvironment(raw: object, name: string, dir: string): Deployment {
  mkdirSync(dir, { recursive: true });
  const envFile = join(dir, `${name}.json`);
  writeFileSync(envFile, JSON.stringify(raw, null, 2));
  const outdir = join(dir, "cdktf.out");
  const app = new App({ outdir });
  const stack = new DrStack(app, { environment: loadEnvironment(envFile) });
  app.synth();
  const stackDir = join(outdir, "stacks", name);
  const json = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
  const one = (type: string): Block => {
    const all = Object.values(json.resource[type] ?? {}) as Block[];
    if (all.length !== 1) throw new Error(`expected one ${type} in the synthesized stack, found ${all.length}`);
    return all[0];
  };
  const vm = one("azurestack_linux_virtual_machine");
  return {
    stackDir, json, stack,
    userData: Buffer.from(String(vm.custom_data), "base64").toString("utf8"),
    extension: one("azurestack_virtual_machine_extension"),
  };
}

/** Creates the stack's containers and uploads its blobs (fences, runtime bundle, Node.js binary) as Terraform would. */
export async function applyStorage(dep: Deployment, sites: Record<string, LocalSite>): Promise<{ name: string; container: string; account: string; file?: string }[]> {
  const site = (account: string) => {
    const s = sites[account];
    if (!s) throw new Error(`the stack names account "${account}", which the local sites do not have`);
    return s;
  };
  for (const c of Object.values(dep.json.resource.azurestack_storage_container ?? {})) {
    await site(c.storage_account_name).container(c.name).createIfNotExists();
  }
  const uploaded = [];
  for (const b of Object.values(dep.json.resource.azurestack_storage_blob ?? {})) {
    const body = b.source ? readFileSync(join(dep.stackDir, b.source)) : Buffer.from(String(b.source_content));
    await site(b.storage_account_name).container(b.storage_container_name).getBlockBlobClient(b.name)
      .uploadData(body, { blobHTTPHeaders: { blobContentType: b.content_type } });
    uploaded.push({ name: b.name, container: b.storage_container_name, account: b.storage_account_name, file: b.source ? join(dep.stackDir, b.source) : undefined });
  }
  return uploaded;
}

/**
 * The SAS tokens of the stack's `external` data sources: their program (the shipped signer) run with their query,
 * where the two Terraform references are given their values: the account key, and the rotation window.
 */
export function signStackSas(dep: Deployment, keys: Record<string, string>, window: { start: Date; expiry: Date }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, d] of Object.entries(dep.json.data?.external ?? {})) {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.query as Record<string, string>)) {
      if (!v.includes("${")) query[k] = v;
      else if (k === "key") query[k] = keys[query.account ?? d.query.account];
      else if (k === "start") query[k] = window.start.toISOString();
      else if (k === "expiry") query[k] = window.expiry.toISOString();
      else throw new Error(`data.external.${id}: no value for the reference in query.${k}: ${v}`);
    }
    const program = (d.program as string[]).map((p) => p.replace("${path.module}", dep.stackDir));
    const result = JSON.parse(execFileSync(program[0], program.slice(1), { input: JSON.stringify(query), encoding: "utf8" }));
    out[`data.external.${id}`] = result.sas;
  }
  return out;
}

/** Reads one HCL quoted string at `i`; returns its value and the index after the closing quote. */
function hclString(s: string, i: number): [string, number] {
  if (s[i] !== '"') throw new Error(`expected a string at ${i}: ${s.slice(i, i + 40)}`);
  let out = "";
  for (i++; i < s.length; i++) {
    const c = s[i];
    if (c === '"') return [out, i + 1];
    if (c === "\\") {
      const n = s[++i];
      const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };
      if (n in simple) out += simple[n];
      else if (n === "u") { out += String.fromCharCode(parseInt(s.slice(i + 1, i + 5), 16)); i += 4; }
      else throw new Error(`unknown escape \\${n}`);
    } else if ((c === "$" || c === "%") && s[i + 1] === c && s[i + 2] === "{") {
      out += `${c}{`;
      i += 2;
    } else if ((c === "$" || c === "%") && s[i + 1] === "{") {
      throw new Error(`a template sequence in a literal at ${i}: ${s.slice(i, i + 40)}`);
    } else out += c;
  }
  throw new Error("unterminated string");
}

/**
 * Evaluates the extension's protected_settings: `jsonencode({"script" = base64encode(join("", [...]))})`, whose
 * list holds string literals and `sensitive(trimprefix(data.external.<id>.result["sas"], "?"))`. Anything else is
 * an error, so a change of the construct's expression shape is noticed here rather than evaluated wrongly.
 */
export function protectedSettings(dep: Deployment, sas: Record<string, string>): { script: string } {
  const expr = String(dep.extension.protected_settings);
  const head = '${jsonencode({"script" = base64encode(join("", [';
  const tail = "]))})}";
  if (!expr.startsWith(head) || !expr.endsWith(tail)) throw new Error(`protected_settings has an unexpected shape: ${expr.slice(0, 80)}`);
  const body = expr.slice(head.length, expr.length - tail.length);
  const ref = /^sensitive\(trimprefix\((data\.external\.[A-Za-z0-9_]+)\.result\["sas"\], "\?"\)\)/;
  let script = "";
  for (let i = 0; i < body.length;) {
    if (body[i] === '"') {
      const [v, next] = hclString(body, i);
      script += v;
      i = next;
    } else {
      const m = ref.exec(body.slice(i));
      if (!m) throw new Error(`protected_settings: cannot evaluate ${body.slice(i, i + 60)}`);
      if (!(m[1] in sas)) throw new Error(`protected_settings refers to ${m[1]}, which has no token`);
      script += sas[m[1]].replace(/^\?/, "");
      i += m[0].length;
    }
    while (body[i] === "," || body[i] === " " || body[i] === "\n") i++;
  }
  return { script: Buffer.from(script).toString("base64") };
}

/** The asset file of an artifact blob, and its blob name, by the name's folder ("dr-sync" or "node"). */
export function artifact(uploaded: { name: string; container: string; file?: string }[], prefix: string): { name: string; container: string; file: string } {
  const a = uploaded.find((u) => u.name.startsWith(`${prefix}/`) && u.file);
  if (!a) throw new Error(`no artifact blob under ${prefix}/ in the stack`);
  return { name: a.name, container: a.container, file: a.file! };
}

