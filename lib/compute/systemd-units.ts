import { VM_LAYOUT as L } from "./vm-layout";
import { RUNTIME_NODE_FLAGS } from "../../runtime/src/config/node-flags";

const NODE_FLAGS = RUNTIME_NODE_FLAGS.join(" ");

/**
 * Texts of the VM's systemd units and helper scripts. Pure functions: what changes with the environment (the timer's
 * schedule) is separate from what cloud-init writes once.
 */

/** Waits for the staging data disk, which may attach after first boot, and formats it only when blank. */
export function prepareDiskScript(lun: number): string {
  return `#!/bin/bash
# Waits for the dr-sync staging disk at LUN ${lun} (it may attach after first boot) and formats it once.
# A disk that already holds another file system or partitions is never formatted.
set -euo pipefail
LABEL=${L.diskLabel}
DEV=""
for _ in $(seq 1 360); do
  for link in /dev/disk/azure/scsi1/lun${lun} /dev/disk/azure/data/by-lun/${lun}; do
    if [ -e "$link" ]; then DEV=$(readlink -f "$link"); break 2; fi
  done
  sleep 5
done
if [ -z "$DEV" ]; then echo "staging disk at LUN ${lun} did not appear within 30 minutes" >&2; exit 1; fi
if [ -z "$(blkid -o value -s TYPE "$DEV" || true)" ] && [ "$(lsblk -n -o NAME "$DEV" | wc -l)" -eq 1 ]; then
  mkfs.ext4 -q -L "$LABEL" "$DEV"
fi
if [ "$(blkid -o value -s LABEL "$DEV" || true)" != "$LABEL" ]; then
  echo "disk at LUN ${lun} ($DEV) is not labelled $LABEL; not touching it" >&2; exit 1
fi
udevadm settle
for _ in $(seq 1 60); do [ -e "/dev/disk/by-label/$LABEL" ] && exit 0; sleep 1; done
echo "/dev/disk/by-label/$LABEL did not appear" >&2; exit 1
`;
}

export function diskUnit(): string {
  return `[Unit]
Description=Wait for the dr-sync staging disk and format it once
Before=${L.mountUnit}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${L.diskScript}
TimeoutStartSec=35min

[Install]
WantedBy=multi-user.target
`;
}

export function mountUnit(): string {
  return `[Unit]
Description=dr-sync staging disk
Requires=${L.diskUnit}
After=${L.diskUnit}

[Mount]
What=/dev/disk/by-label/${L.diskLabel}
Where=${L.mountPoint}
Type=ext4
Options=defaults,noatime,nofail

[Install]
WantedBy=multi-user.target
`;
}

/** Installs the pinned runtime and Node.js from the artifacts container; a file whose SHA-256 differs is never run. */
export function fetchArtifactsScript(): string {
  return `#!/bin/bash
# Installs the runtime bundle and Node.js pinned in ${L.artifactsEnvFile} from the artifacts container (no internet
# needed). A download whose SHA-256 is not the pinned one is discarded; an installed file is re-checked every run.
set -euo pipefail
. ${L.artifactsEnvFile}
SAS="\${${L.env.artifacts}:?${L.env.artifacts} is not set (${L.sasEnvFile})}"
SAS="\${SAS#\\?}"
install -d -m 0755 ${L.libDir} ${L.libDir}/bin
fetch() {
  local url=$1 sha=$2 target=$3 mode=$4 tmp
  if [ -f "$target" ] && echo "$sha  $target" | sha256sum -c --status; then return 0; fi
  tmp=$(mktemp "$target.XXXXXX")
  # The URL goes through stdin, not argv, so the SAS never shows in the process list.
  if ! printf 'url = "%s?%s"\\n' "$url" "$SAS" | curl -fsS --proto =https --retry 5 --retry-delay 5 -o "$tmp" -K -; then
    rm -f "$tmp"; echo "could not download $url" >&2; return 1
  fi
  if ! echo "$sha  $tmp" | sha256sum -c --status; then
    rm -f "$tmp"; echo "$url: SHA-256 is not the pinned $sha; not installed" >&2; return 1
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
}
fetch "$DR_SYNC_NODE_URL" "$DR_SYNC_NODE_SHA256" ${L.nodeBin} 0755
fetch "$DR_SYNC_RUNTIME_URL" "$DR_SYNC_RUNTIME_SHA256" ${L.runtimeJs} 0644
# A binary the image cannot run (a missing shared library) would fail every run with a loader error; say what to add.
if ! out=$(${L.nodeBin} --version 2>&1); then
  echo "the pinned Node.js ${L.nodeBin} does not start on this image: $out (it needs glibc 2.28+ and libatomic1; add them to the image)" >&2
  exit 1
fi
`;
}

/** `sudo dr-sync status` and friends for operators: the runtime as the service user, with the SAS variables. */
export function cliWrapper(): string {
  return `#!/bin/bash
# Runs dr-sync as the service would: as ${L.serviceUser}, with the SAS variables and the deployed config. Needs root.
set -euo pipefail
set -a; . ${L.sasEnvFile}; set +a
export NODE_EXTRA_CA_CERTS=${L.caBundle}
exec setpriv --reuid=${L.serviceUser} --regid=${L.serviceUser} --init-groups ${L.nodeBin} ${NODE_FLAGS} ${L.runtimeJs} "$@" --config ${L.configFile}
`;
}

export function serviceUnit(): string {
  return `[Unit]
Description=dr-sync: replicate blob containers between the DR sites
Wants=network-online.target
After=network-online.target
RequiresMountsFor=${L.mountPoint}
ConditionPathExists=${L.sasEnvFile}
ConditionPathExists=${L.configFile}

[Service]
# A oneshot service is never started twice at once; the runtime holds its own lock as well.
Type=oneshot
User=${L.serviceUser}
Group=${L.serviceUser}
EnvironmentFile=${L.sasEnvFile}
# Node trusts only its bundled CAs; a stamp's certificates often come from the operator's own CA, which the image
# trusts (curl does) once it is in its bundle.
Environment=NODE_EXTRA_CA_CERTS=${L.caBundle}
ExecStartPre=+${L.fetchScript}
ExecStartPre=+/usr/bin/install -d -o ${L.serviceUser} -g ${L.serviceUser} -m 0700 ${L.stagingDir} ${L.stateDir}
ExecStart=${L.nodeBin} ${NODE_FLAGS} ${L.runtimeJs} run --config ${L.configFile}
# Exit 3: another run holds the lock; that run does the work.
SuccessExitStatus=3
# Staged copies and state are the service user's alone; no core dump can carry the SAS tokens out.
UMask=0077
LimitCORE=0
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=${L.mountPoint}
`;
}

/** The timer: the environment's schedule; `Persistent=` catches up a run missed while the VM was off. */
export function timerUnit(onCalendar: string): string {
  if (/[\n\r]/.test(onCalendar)) throw new Error(`schedule must be one line (got ${JSON.stringify(onCalendar)})`);
  return `[Unit]
Description=dr-sync schedule

[Timer]
OnCalendar=${onCalendar}
Persistent=true
Unit=${L.serviceUnit}

[Install]
WantedBy=timers.target
`;
}
