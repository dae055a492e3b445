#!/bin/bash
# Build (once, then cached) the Debian 12 root filesystem the systemd VM
# test boots: systemd as PID 1, the libraries memsafed's package depends
# on, and Debian's initramfs for the same kernel tests/vm boots (the image
# install-vm-deps.sh unpacked), so that the kernel's modules match.
#
# Usage (as root): tests/vm-systemd/mkrootfs.sh
# Env:  MEMSAFE_VM_CACHE   cache dir (default /var/cache/memsafed-vm)
#       MEMSAFE_VM_MIRROR  Debian mirror (default http://deb.debian.org/debian)
# Prints the path of the image's directory: rootfs.img (ext4, the root
# filesystem), initrd.img and vmlinuz (a link to the cached kernel). The
# directory's name carries a hash of this script and the kernel version,
# so a change to either builds a new one. Exit 77 when a tool is missing.
set -euo pipefail

prog=mkrootfs.sh
cache=${MEMSAFE_VM_CACHE:-/var/cache/memsafed-vm}
mirror=${MEMSAFE_VM_MIRROR:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
[ "$mirror" != "${mirror%/debian}" ] || security=http://deb.debian.org/debian-security

skip() { echo "$prog: SKIP: $*" >&2; exit 77; }
command -v mmdebstrap >/dev/null || skip "mmdebstrap not found (apt-get install mmdebstrap, or scripts/install-deps.sh)"
command -v mke2fs >/dev/null || skip "mke2fs not found (apt-get install e2fsprogs)"
[ "$(id -u)" -eq 0 ] || skip "needs root (mmdebstrap in root mode, mke2fs -d keeping owners)"
kernel=$(readlink -f "$cache/vmlinuz" 2>/dev/null) && [ -r "$kernel" ] ||
	skip "no kernel in $cache (run scripts/install-vm-deps.sh as root)"
kver=$(basename "$kernel")
kver=${kver#vmlinuz-}

# What memsafed's package needs at run time (its Depends), what the test
# drives it with (setpriv and runuser are in util-linux, which minbase
# has), and what boots.
pkgs=systemd,systemd-sysv,udev,dbus,kmod,initramfs-tools,linux-image-$kver
pkgs=$pkgs,libevent-2.1-7,libyajl2,libpoppler-glib8,libseccomp2,libcairo2,libglib2.0-0,libsystemd0
pkgs=$pkgs,procps,e2fsprogs

key=$( { cat "$0"; echo "$kver $pkgs $mirror"; } | sha256sum | cut -c1-16)
out=$cache/systemd-rootfs-$key
if [ -s "$out/rootfs.img" ] && [ -s "$out/initrd.img" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

# The test's runner: when the test's data disk (/dev/vdb) holds run.sh, it
# runs once multi-user.target is reached, its output on the second serial
# port, and the VM powers off afterwards.
cat >"$tmp/memsafe-vmtest.service" <<'UNIT'
[Unit]
Description=memsafed VM test (tests/vm-systemd)
After=multi-user.target
ConditionPathExists=/dev/vdb

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /mnt/test && mount -o ro /dev/vdb /mnt/test && exec /bin/bash /mnt/test/run.sh >/dev/ttyS1 2>&1'
ExecStopPost=/bin/systemctl poweroff --no-block
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT

echo "$prog: building a Debian 12 root for kernel $kver in $out (one time)" >&2
mmdebstrap --variant=minbase --include="$pkgs" \
	--customize-hook='echo memsafe-vm >"$1/etc/hostname"' \
	--customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" >"$1/etc/fstab"' \
	--customize-hook='passwd --root "$1" -d root' \
	--customize-hook="cp '$tmp/memsafe-vmtest.service' \"\$1/etc/systemd/system/\"" \
	--customize-hook='chroot "$1" systemctl enable memsafe-vmtest.service' \
	--customize-hook='chroot "$1" systemctl mask getty@tty1.service serial-getty@ttyS0.service serial-getty@ttyS1.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer' \
	bookworm "$root" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	"deb $security bookworm-security main" >&2

[ -s "$root/boot/initrd.img-$kver" ] || { echo "$prog: no initrd.img-$kver was made" >&2; exit 1; }
cmp -s "$root/boot/vmlinuz-$kver" "$kernel" ||
	{ echo "$prog: the archive's vmlinuz-$kver differs from $kernel" >&2; exit 1; }
mkdir -p "$tmp/out"
cp "$root/boot/initrd.img-$kver" "$tmp/out/initrd.img"
ln -s "$kernel" "$tmp/out/vmlinuz"
# Room for the package, its state and the test's jobs.
mke2fs -q -t ext4 -L memsafe-root -d "$root" "$tmp/out/rootfs.img" 2G >&2
rm -rf "$out"
mv "$tmp/out" "$out"
# Older images of this cache are of no use any more.
for d in "$cache"/systemd-rootfs-*; do [ "$d" = "$out" ] || rm -rf "$d"; done
echo "$out"
