import { Fn } from "cdktf";
import { VM_LAYOUT as L } from "./vm-layout";
import { timerUnit } from "./systemd-units";

export interface PinnedArtifact {
  /** Blob URL without a SAS. */
  readonly url: string;
  /** Lowercase hex SHA-256. */
  readonly sha256: string;
}

/** SAS tokens (Terraform expressions) the VM gets: the reading side, the writing side, the artifacts container. */
export interface SettingsSas {
  readonly source: string;
  readonly target: string;
  readonly artifacts: string;
}

export interface RuntimeSettingsProps {
  /** The runtime's config file, as `renderConfig` wrote it. */
  readonly renderedConfig: string;
  /** systemd `OnCalendar=` of the runs. */
  readonly schedule: string;
  readonly runtime: PinnedArtifact;
  readonly node: PinnedArtifact;
  /** Rotation generation, recorded in the SAS file so an operator sees which one the VM has. */
  readonly generation: number;
  /** The stackhub-dr release the runtime belongs to, recorded in the pins file (`DR_SYNC_RELEASE`). */
  readonly release: string;
}

const EOF_MARK = "DR_SYNC_EOF";
/** Where the CustomScript extension (2.x) writes the scripts it runs, one folder per sequence number. */
const EXTENSION_DOWNLOADS = "/var/lib/waagent/custom-script/download";
const PLACEHOLDER = { source: "@@DR_SYNC_SAS_SOURCE@@", target: "@@DR_SYNC_SAS_TARGET@@", artifacts: "@@DR_SYNC_SAS_ARTIFACTS@@" };

/** One shell word, in single quotes. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The script the VM extension runs on every deploy: writes the config, the root-only SAS file, the artifact pins and
 * the timer, installs the pinned artifacts and (re)starts the timer. The SAS tokens are placeholders here, filled by
 * `settingsScriptExpression`. It changes with rotation, the config or the runtime version, and none of those replaces
 * the VM. Goes only into the extension's protected settings.
 */
export function renderSettingsScript(props: RuntimeSettingsProps): string {
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(props.release)) throw new Error(`release must be a version like "0.2.0" (got ${JSON.stringify(props.release)})`);
  for (const [name, text] of [["config", props.renderedConfig], ["schedule", props.schedule]] as const) {
    if (text.split("\n").includes(EOF_MARK)) throw new Error(`${name} must not contain a line "${EOF_MARK}"`);
  }
  const heredoc = (target: string, content: string) =>
    `cat > ${target}.new <<'${EOF_MARK}'\n${content.endsWith("\n") ? content : content + "\n"}${EOF_MARK}\n`;
  const sasEnv = [
    `# SAS tokens of dr-sync, generation ${props.generation}. Root only; read by systemd (EnvironmentFile=).`,
    `DR_SYNC_SAS_GENERATION=${props.generation}`,
    `${L.env.source}="${PLACEHOLDER.source}"`,
    `${L.env.target}="${PLACEHOLDER.target}"`,
    `${L.env.artifacts}="${PLACEHOLDER.artifacts}"`,
  ].join("\n");
  const pins = [
    `DR_SYNC_RELEASE=${props.release}`,
    `DR_SYNC_RUNTIME_URL=${props.runtime.url}`,
    `DR_SYNC_RUNTIME_SHA256=${props.runtime.sha256}`,
    `DR_SYNC_NODE_URL=${props.node.url}`,
    `DR_SYNC_NODE_SHA256=${props.node.sha256}`,
  ].join("\n");

  const script = `#!/bin/bash
# Written by stackhub-dr through the VM extension (protected settings): config, SAS file, artifact pins, timer.
set -euo pipefail
# The CustomScript extension keeps each script it ran, tokens and all, in its download folder; none is needed once
# it has run (the handler runs a sequence number once), and a rotated-out token must not stay on disk.
case "$0" in ${EXTENSION_DOWNLOADS}/*/script.sh) trap 'rm -f -- "$0" ${EXTENSION_DOWNLOADS}/*/script.sh' EXIT ;; esac
# A schedule systemd cannot parse would replace a working timer with one that never loads: refuse it first.
if ! systemd-analyze calendar -- ${shellQuote(props.schedule)} >/dev/null 2>&1; then
  echo ${shellQuote(`schedule ${JSON.stringify(props.schedule)} is not a systemd OnCalendar= expression (systemd-analyze calendar); nothing was changed`)} >&2
  exit 1
fi
# cloud-init writes the units and scripts this relies on; the extension may start before it is done.
cloud-init status --wait >/dev/null 2>&1 || true
install -d -m 0755 ${L.etcDir}
umask 077
${heredoc(L.sasEnvFile, sasEnv)}mv -f ${L.sasEnvFile}.new ${L.sasEnvFile}
umask 022
${heredoc(L.configFile, props.renderedConfig)}chgrp ${L.serviceUser} ${L.configFile}.new && chmod 0640 ${L.configFile}.new
mv -f ${L.configFile}.new ${L.configFile}
${heredoc(L.artifactsEnvFile, pins)}mv -f ${L.artifactsEnvFile}.new ${L.artifactsEnvFile}
${heredoc(`/etc/systemd/system/${L.timerUnit}`, timerUnit(props.schedule))}mv -f /etc/systemd/system/${L.timerUnit}.new /etc/systemd/system/${L.timerUnit}
(set -a; . ${L.sasEnvFile}; exec ${L.fetchScript})
systemctl daemon-reload
systemctl enable ${L.timerUnit}
systemctl restart ${L.timerUnit}
`;
  return script;
}

/**
 * The script as a Terraform expression: the shell text as HCL string literals (cdktf's rawString escapes newlines,
 * quotes and `${`; backslashes and `%{` are doubled here) joined with the SAS token expressions.
 */
export function settingsScriptExpression(script: string, sas: SettingsSas): string {
  const parts: string[] = [];
  const tokens: Record<string, string> = {
    [PLACEHOLDER.source]: sas.source, [PLACEHOLDER.target]: sas.target, [PLACEHOLDER.artifacts]: sas.artifacts,
  };
  for (const piece of script.split(/(@@DR_SYNC_SAS_[A-Z]+@@)/)) {
    if (piece in tokens) parts.push(tokens[piece]);
    else if (piece) parts.push(Fn.rawString(piece.replace(/\\/g, "\\\\").replace(/%\{/g, "%%{")));
  }
  return Fn.join("", parts);
}
