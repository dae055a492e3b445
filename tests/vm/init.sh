#!/bin/sh
# /init of the memsafed VM test: set up a pure cgroup-v2 system, run /scenario.sh, print MEMSAFE-VM-EXIT=<status>, power off.
#
# Kernel command-line words of the form key=value that the kernel does not
# know reach us as environment variables; run-vm.sh uses this for
#   memsafe_timeout=SECONDS   limit for /scenario.sh (default 240)
# Console protocol (parsed by run-vm.sh):
#   MEMSAFE-VM-BEGIN           scenario output starts
#   MEMSAFE-VM-EXIT=<status>   scenario finished with <status>
#   MEMSAFE-VM-DMESG-BEGIN/END the kernel log, for the log file only

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Applet links (mkinitramfs.sh only made /bin/sh); existing files are kept.
/bin/busybox --install -s
export HOME=/root
umask 022

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
# If the image had no /dev/console node we started without stdio.
[ -t 1 ] || exec </dev/console >/dev/console 2>&1

poweroff_now() {
	sync
	poweroff -f
	# Should not get here; the sysrq fallback, then panic (panic=-1 reboots,
	# and qemu -no-reboot exits).
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	exit 1
}

fail_setup() {
	echo "init: setup failed: $*"
	echo "MEMSAFE-VM-EXIT=98"
	poweroff_now
}

mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
# tmpfs on /tmp and /run; files the image put there (MEMSAFE_VM_FILES, or
# binaries built under /tmp) are carried over instead of being hidden.
mount_tmpfs() { # mount_tmpfs DIR MODE
	if [ -n "$(ls -A "$1" 2>/dev/null)" ]; then
		mv "$1" "$1.image" && mkdir -m "$2" "$1"
		mount -t tmpfs -o "nosuid,nodev,mode=$2" tmpfs "$1"
		cp -a "$1.image/." "$1/" && rm -rf "$1.image"
	else
		mount -t tmpfs -o "nosuid,nodev,mode=$2" tmpfs "$1"
	fi
}
mount_tmpfs /tmp 1777
mount_tmpfs /run 0755

# Pure cgroup v2, mounted the way systemd does it on Debian 12.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
	mount -t cgroup2 cgroup2 /sys/fs/cgroup ||
	fail_setup "cannot mount cgroup2 on /sys/fs/cgroup"
[ -f /sys/fs/cgroup/cgroup.controllers ] || fail_setup "/sys/fs/cgroup is not cgroup2"

# Users and groups so getpwnam()/getgrnam() work (glibc's files backend is
# built into libc.so.6 since 2.34, so no NSS modules are needed).
cat >/etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
memsafe-worker:x:990:990:memsafed worker:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >/etc/group <<'EOF'
root:x:0:
memsafe:x:990:
nogroup:x:65534:
EOF
cat >/etc/nsswitch.conf <<'EOF'
passwd: files
group: files
shadow: files
hosts: files
EOF
echo "127.0.0.1 localhost" >/etc/hosts
echo memsafe-vm >/etc/hostname
hostname memsafe-vm
ip link set lo up 2>/dev/null

# Keep kernel messages (e.g. OOM reports) off the console while the scenario
# runs so its output stays readable; they are dumped after the marker.
dmesg -n 1 2>/dev/null

limit=${memsafe_timeout:-240}
echo "MEMSAFE-VM-BEGIN"
cd /
# TERM after $limit s (lets the scenario's traps clean up), KILL 10 s later:
# a hung scenario cannot hang the VM. Whatever it left running dies with the VM.
timeout -s TERM -k 10 "$limit" /bin/sh /scenario.sh </dev/null
status=$?
case $status in 137|143) echo "init: scenario killed by signal $((status - 128)) (timeout ${limit}s?)" ;; esac
echo "MEMSAFE-VM-EXIT=$status"

echo "MEMSAFE-VM-DMESG-BEGIN"
dmesg
echo "MEMSAFE-VM-DMESG-END"
poweroff_now
