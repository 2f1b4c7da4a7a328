#!/usr/bin/env bash
# Installs the tools the benchmark compares dr-sync with, so anyone can reproduce bench/results:
#   - the recipe's AzCopy, from npm (@azure-tools/azcopy-linux), into bench/.tools/ (outside the project's node_modules);
#   - rclone and libsecret (AzCopy's binary links it) and GNU time, from Debian.
# Idempotent: run it again and it only checks. The test suite never needs these.
set -euo pipefail
cd "$(dirname "$0")/.."

AZCOPY_PKG="@azure-tools/azcopy-linux@10.32.2"
TOOLS="bench/.tools"

need_apt=()
command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
[ -x /usr/bin/time ] || need_apt+=(time)
ldconfig -p 2>/dev/null | grep -q 'libsecret-1\.so\.0' || need_apt+=(libsecret-1-0)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

bin=$(find "$TOOLS/node_modules/@azure-tools/azcopy-linux" -type f -name "azcopy_linux_*" 2>/dev/null | head -n1 || true)
if [ -z "$bin" ]; then
  mkdir -p "$TOOLS"
  # Its own package.json keeps npm from walking up to the project's.
  [ -f "$TOOLS/package.json" ] || echo '{ "name": "bench-tools", "private": true }' > "$TOOLS/package.json"
  npm install --prefix "$TOOLS" --no-audit --no-fund --save-exact "$AZCOPY_PKG"
  bin=$(find "$TOOLS/node_modules/@azure-tools/azcopy-linux" -type f -name "azcopy_linux_*" | head -n1)
fi
# The package ships the binary without its execute bit.
chmod +x "$bin"
echo "azcopy: $bin ($("$bin" --version 2>/dev/null | head -n1))"
echo "rclone: $(command -v rclone) ($(rclone version 2>/dev/null | head -n1))"
