#!/usr/bin/env bash
# Builds (once) and prints the path of the root file system the VM boot test boots with systemd-nspawn: Debian 12
# from debootstrap, standing in for the Ubuntu 22.04 image. Cached under $VM_ROOTFS_CACHE (default
# /var/cache/stackhub-dr), keyed by the SHA-256 of packages.txt and of this script, so a second run costs nothing.
# The mirror is the one apt already uses on this machine (or $VM_ROOTFS_MIRROR).
# Usage: scripts/vm-rootfs/build.sh        prints the rootfs folder on stdout; progress on stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite=bookworm
cache="${VM_ROOTFS_CACHE:-/var/cache/stackhub-dr}"
packages="$(grep -v '^#' "$here/packages.txt" | grep -v '^\s*$' | sort | paste -sd, -)"
key="$(cat "$here/packages.txt" "$here/build.sh" | sha256sum | cut -c1-16)"
rootfs="$cache/rootfs-$suite-$key"

if [ -f "$rootfs/.complete" ]; then echo "$rootfs"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "building the VM rootfs needs root" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }

# The URI apt uses for Debian's main archive, from deb822 .sources files or sources.list: an entry for this suite,
# else any entry that is not the security archive (a newer Debian host's mirror carries bookworm too).
mirror="${VM_ROOTFS_MIRROR:-}"
pick() {
  awk -v want="$1" '
    function flush() { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0 }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ((want != "" && $i == want) || (want == "" && $i !~ /security/)) ok = 1 }
    /^$/ { flush() }
    $1 == "deb" && $2 !~ /^\[/ && (want == "" ? $3 !~ /security/ : $3 == want) { print $2; exit }
    END { flush() }'
}
sources() { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; }
[ -n "$mirror" ] || mirror="$(sources | pick "$suite" | head -1)"
[ -n "$mirror" ] || mirror="$(sources | pick "" | head -1)"
[ -n "$mirror" ] || { echo "no apt source for Debian $suite found; set VM_ROOTFS_MIRROR" >&2; exit 2; }

mkdir -p "$cache"
exec 9>"$cache/.lock-$key"
flock 9
# Another run may have finished it while this one waited for the lock.
if [ -f "$rootfs/.complete" ]; then echo "$rootfs"; exit 0; fi
tmp="$cache/.building-$key"
rm -rf "$tmp" "$rootfs"
echo "building the VM rootfs ($suite: $packages) into $rootfs; about 2 minutes" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" >"$cache/debootstrap-$key.log" 2>&1 \
  || { echo "debootstrap failed; see $cache/debootstrap-$key.log" >&2; tail -20 "$cache/debootstrap-$key.log" >&2; exit 1; }

# What the image provides on Azure, in the stand-in's own terms: cloud-init reads NoCloud (the test's seed) instead
# of the Azure datasource, a first boot gets a fresh machine id, /etc/hosts exists (minbase has none), and the
# locale cloud-init sets exists.
printf 'datasource_list: [ NoCloud, None ]\n' >"$tmp/etc/cloud/cloud.cfg.d/90-stackhub-dr-nocloud.cfg"
: >"$tmp/etc/machine-id"
[ -s "$tmp/etc/hosts" ] || printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' "$tmp/etc/locale.gen"
chroot "$tmp" locale-gen >/dev/null
chroot "$tmp" apt-get clean
rm -rf "$tmp/var/lib/apt/lists/"*
touch "$tmp/.complete"
mv "$tmp" "$rootfs"
# Older package lists' builds, and their logs, are of no further use.
for old in "$cache"/rootfs-* "$cache"/debootstrap-*.log; do
  case "$old" in "$rootfs" | "$cache/debootstrap-$key.log") ;; *) rm -rf "$old" ;; esac
done
echo "$rootfs"
