/**
 * The CustomScript extension (Microsoft.Azure.Extensions.CustomScript 2.x) as it runs a protected `script` setting:
 * base64-decoded into `/var/lib/waagent/custom-script/download/<seq>/script.sh` (mode 0500, folder 0700), run as
 * root by `/bin/bash -c <that path>` from that folder, stdout and stderr into `stdout` and `stderr` beside it. The
 * handler runs under the agent's service, so here the script runs as a transient unit of the VM's systemd.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { ExecResult, Machine } from "./vm-machine";

export const EXTENSION_DOWNLOAD_DIR = "/var/lib/waagent/custom-script/download";

export interface ExtensionRun extends ExecResult {
  /** The extension's folder for this sequence number, inside the VM. */
  readonly dir: string;
  /** What the script wrote to stdout and stderr (the files the handler keeps). */
  readonly scriptStdout: string;
  readonly scriptStderr: string;
}

export async function runCustomScript(vm: Machine, protectedSettings: { script: string }, seq: number): Promise<ExtensionRun> {
  const dir = `${EXTENSION_DOWNLOAD_DIR}/${seq}`;
  mkdirSync(vm.hostPath(dir), { recursive: true, mode: 0o700 });
  chmodSync(vm.hostPath(dir), 0o700);
  writeFileSync(vm.hostPath(`${dir}/script.sh`), Buffer.from(protectedSettings.script, "base64"), { mode: 0o500 });
  const r = await vm.exec([
    "systemd-run", "--quiet", "--wait", "--collect", "--service-type=exec", `--unit=custom-script-${seq}`,
    "-p", `WorkingDirectory=${dir}`, "-p", `StandardOutput=truncate:${dir}/stdout`, "-p", `StandardError=truncate:${dir}/stderr`,
    "/bin/bash", "-c", `${dir}/script.sh`,
  ], { timeoutMs: 180_000 });
  const read = (f: string) => vm.sh(`cat ${dir}/${f} 2>/dev/null || true`);
  return { ...r, dir, scriptStdout: await read("stdout"), scriptStderr: await read("stderr") };
}
