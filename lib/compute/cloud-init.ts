import { VM_LAYOUT as L } from "./vm-layout";
import { cliWrapper, diskUnit, fetchArtifactsScript, mountUnit, prepareDiskScript, serviceUnit } from "./systemd-units";

export interface CloudInitProps {
  /** LUN of the staging data disk. */
  readonly stagingDiskLun: number;
}

/**
 * The VM's cloud-init: only what never changes for the VM's life (user, scripts, disk and service units). `custom_data`
 * replaces the VM when it changes, so the config, schedule, artifact pins and SAS tokens come through the VM extension.
 * Holds no secret.
 */
export function renderCloudInit(props: CloudInitProps): string {
  const file = (path: string, content: string, permissions: string) => ({
    path, permissions, owner: "root:root", encoding: "b64", content: Buffer.from(content).toString("base64"),
  });
  const doc = {
    users: ["default", { name: L.serviceUser, system: true, shell: "/usr/sbin/nologin", homedir: "/nonexistent", no_create_home: true }],
    write_files: [
      file(L.diskScript, prepareDiskScript(props.stagingDiskLun), "0755"),
      file(L.fetchScript, fetchArtifactsScript(), "0755"),
      file(L.cliWrapper, cliWrapper(), "0755"),
      file(`/etc/systemd/system/${L.diskUnit}`, diskUnit(), "0644"),
      file(`/etc/systemd/system/${L.mountUnit}`, mountUnit(), "0644"),
      file(`/etc/systemd/system/${L.serviceUnit}`, serviceUnit(), "0644"),
    ],
    runcmd: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--no-block", "--now", L.diskUnit, L.mountUnit],
    ],
  };
  // JSON is YAML: no quoting rules to get wrong.
  return `#cloud-config\n${JSON.stringify(doc, null, 2)}\n`;
}
