#!/bin/bash
# Install what the cgroup-v2 VM test needs (qemu, busybox, cpio) and unpack Debian's kernel image into a cache dir.
#
# Usage (as root, Debian 12):  bash scripts/install-vm-deps.sh
# Env:  MEMSAFE_VM_CACHE  cache dir (default /var/cache/memsafed-vm)
# Result: $MEMSAFE_VM_CACHE/vmlinuz (symlink to the unpacked kernel) and
#         $MEMSAFE_VM_CACHE/config (its kernel config). Idempotent. Ends by
#         saying which accelerator the VM tests will use (tests/vm/accel.sh:
#         KVM only if the CPU has vmx/svm and a probe boot works, else TCG).
# The kernel package is only downloaded and unpacked with dpkg-deb -x, never
# installed, so no postinst hooks (initramfs-tools, bootloader) run.
set -euo pipefail

CACHE=${MEMSAFE_VM_CACHE:-/var/cache/memsafed-vm}
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")" && pwd)

# say_accel: which accelerator the VM tests will boot under, and why.
say_accel() {
	local a
	[ -f "$here/../tests/vm/accel.sh" ] || return 0
	# shellcheck source=../tests/vm/accel.sh
	. "$here/../tests/vm/accel.sh"
	a=$(MEMSAFE_VM_CACHE=$CACHE memsafe_vm_accel) || return 0
	echo "install-vm-deps: the VM tests will use $a: $(MEMSAFE_VM_CACHE=$CACHE memsafe_vm_accel_why)"
}

need_pkgs=
for p in qemu-system-x86 busybox-static cpio; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		need_pkgs="$need_pkgs $p"
	fi
done
if [ -n "$need_pkgs" ]; then
	echo "install-vm-deps: installing$need_pkgs"
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $need_pkgs ||
		{ apt-get update && apt-get install -y --no-install-recommends $need_pkgs; }
fi

if [ -e "$CACHE/vmlinuz" ] && [ -s "$CACHE/vmlinuz" ]; then
	echo "install-vm-deps: kernel already present: $(readlink -f "$CACHE/vmlinuz")"
	say_accel
	exit 0
fi

mkdir -p "$CACHE"
dl=$(mktemp -d "$CACHE/dl.XXXXXX")
trap 'rm -rf "$dl"' EXIT
# apt-get download writes into the current directory and needs it writable
# by the _apt sandbox user, otherwise it warns; make it so.
chmod 755 "$dl"
chown _apt "$dl" 2>/dev/null || true
cd "$dl"

# 1. The metapackage names the real image package in its Depends.
apt-get download linux-image-amd64 >/dev/null ||
	{ apt-get update && apt-get download linux-image-amd64 >/dev/null; }
metas=(linux-image-amd64_*.deb)
meta=${metas[0]}
real=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' |
	sed -n 's/^ *\(linux-image-[0-9][^ (]*-amd64\).*/\1/p' | head -n1)
if [ -z "$real" ]; then
	echo "install-vm-deps: cannot find linux-image-*-amd64 in Depends of $meta" >&2
	exit 1
fi
echo "install-vm-deps: $meta depends on $real"

# 2. Fetch and unpack the real image without installing it.
apt-get download "$real" >/dev/null
debs=("${real}"_*.deb)
deb=${debs[0]}
root="$CACHE/$real"
rm -rf "$root.tmp"
dpkg-deb -x "$deb" "$root.tmp"
rm -rf "$root"
mv "$root.tmp" "$root"

kimgs=("$root"/boot/vmlinuz-*)
kcfgs=("$root"/boot/config-*)
kimg=${kimgs[0]} kcfg=${kcfgs[0]}
[ -f "$kimg" ] || { echo "install-vm-deps: no boot/vmlinuz-* in $deb" >&2; exit 1; }
ln -sfn "${kimg#"$CACHE"/}" "$CACHE/vmlinuz"
ln -sfn "${kcfg#"$CACHE"/}" "$CACHE/config"
echo "install-vm-deps: kernel at $CACHE/vmlinuz -> $kimg"
say_accel
