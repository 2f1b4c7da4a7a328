/** Fixtures of the infrastructure tests: small stand-ins for the runtime bundle and the Node binary, and stacks. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing } from "cdktf";
import { loadEnvironment } from "../lib/environment/load";
import { ResolvedEnvironment } from "../lib/environment/schema";
import { validateEnvironment } from "../lib/environment/validate";
import { DrStack } from "../lib/stack";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "infra-"));

/** A few bytes standing in for runtime/dist/dr-sync.js. */
export const fakeBundle = path.join(dir, "dr-sync.js");
fs.writeFileSync(fakeBundle, "#!/usr/bin/env node\nconsole.log('dr-sync fixture');\n");

/** A 64-byte linux-x64 ELF header standing in for the 100 MB Node binary. */
export const fakeNode = path.join(dir, "node");
const elf = Buffer.alloc(64);
elf.writeUInt32BE(0x7f454c46, 0);
elf[4] = 2;
elf[5] = 1;
elf.writeUInt16LE(0x3e, 18);
fs.writeFileSync(fakeNode, elf);

export const envDir = path.join(__dirname, "..", "environments");
export const exampleStackHub = () => loadEnvironment(path.join(envDir, "example.json"));
export const exampleAzure = () => loadEnvironment(path.join(envDir, "example-azure.json"));

/** The example Stack Hub → Stack Hub file as raw JSON, to change and re-validate. */
export function exampleRaw(file = "example.json"): any {
  return JSON.parse(fs.readFileSync(path.join(envDir, file), "utf8"));
}

export function environmentFrom(raw: unknown, name = "test"): ResolvedEnvironment {
  return validateEnvironment(raw, name);
}

export interface Synthesized {
  readonly stack: DrStack;
  readonly text: string;
  readonly json: any;
}

export function synth(environment: ResolvedEnvironment): Synthesized {
  const app = Testing.app();
  const stack = new DrStack(app, { environment, runtimeBundle: fakeBundle, nodeBinary: fakeNode });
  const text = Testing.synth(stack);
  return { stack, text, json: JSON.parse(text) };
}

/** The one resource of a type (fails when there are several). */
export function only(json: any, kind: "resource" | "data", type: string): any {
  const all = Object.values(json[kind]?.[type] ?? {});
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

export function all(json: any, kind: "resource" | "data", type: string): any[] {
  return Object.values(json[kind]?.[type] ?? {});
}
