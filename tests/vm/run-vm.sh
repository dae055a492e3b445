#!/bin/bash
# Boot Debian's kernel under qemu with a busybox initramfs and a pure cgroup-v2 hierarchy, run one scenario script, exit with its status.
#
# ---------------------------------------------------------------------------
# tests/vm — cgroup v2 in a throw-away VM
#
# Usage:
#   tests/vm/run-vm.sh SCENARIO_SCRIPT [BINARY...]
#
# SCENARIO_SCRIPT becomes /scenario.sh in the VM and runs as root under
# busybox sh (there is no bash) with a pure cgroup v2 hierarchy mounted at
# /sys/fs/cgroup (nsdelegate,memory_recursiveprot; no v1 controllers), proc,
# sysfs, devtmpfs, tmpfs on /tmp and /run, and /etc/passwd + /etc/group
# holding root, memsafe-worker (uid 990) and the memsafe group (gid 990).
# Each BINARY (plain ELF, not a libtool wrapper) is copied to the same
# absolute path inside the VM with all its shared libraries, so a scenario
# can run e.g. /work/main/daemon/memsafed directly. The VM has 2 CPUs, no
# network, no disk, no swap; everything lives in RAM.
#
# One-time setup (as root): bash scripts/install-vm-deps.sh
#
# Environment:
#   MEMSAFE_VM_CACHE    where install-vm-deps.sh put the kernel
#                       (default /var/cache/memsafed-vm)
#   MEMSAFE_VM_KERNEL   kernel image (default $MEMSAFE_VM_CACHE/vmlinuz)
#   MEMSAFE_VM_TIMEOUT  seconds for the whole boot + scenario (default 300);
#                       the scenario itself gets this minus 60 (at least 30)
#   MEMSAFE_VM_LOG      file that receives the full console output (kernel
#                       log included); default: a temp file, removed when the
#                       scenario passes, kept (and named) when it does not
#   MEMSAFE_VM_FILES    space-separated absolute paths of extra files or
#                       directories to copy into the VM at the same paths
#   MEMSAFE_VM_MEM      guest RAM in MiB (default 1024)
#   MEMSAFE_VM_APPEND   extra kernel command-line words; key=value words
#                       the kernel does not know become environment
#                       variables of /init and so of the scenario
#
# Output: the scenario's own output lines, then a summary line.
# Exit status: the scenario's exit status; 77 if qemu, busybox, cpio or the
# kernel is missing (the message says what installs it); 98 if the VM's
# setup failed; 99 if no exit marker was seen (boot failure, kernel panic
# or timeout; the log's tail is printed).
# ---------------------------------------------------------------------------
set -uo pipefail

prog=run-vm.sh
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "$prog: SKIP: $*" >&2; exit 77; }

[ $# -ge 1 ] || { echo "usage: $prog SCENARIO_SCRIPT [BINARY...]" >&2; exit 2; }
scenario=$1
shift
[ -f "$scenario" ] || { echo "$prog: scenario not found: $scenario" >&2; exit 2; }

cache=${MEMSAFE_VM_CACHE:-/var/cache/memsafed-vm}
kernel=${MEMSAFE_VM_KERNEL:-$cache/vmlinuz}
vm_timeout=${MEMSAFE_VM_TIMEOUT:-300}
mem=${MEMSAFE_VM_MEM:-1024}
qemu="qemu-system-x86_64"

command -v "$qemu" >/dev/null ||
	skip "$qemu not found (apt-get install qemu-system-x86, or run scripts/install-vm-deps.sh as root)"
[ -r "$kernel" ] ||
	skip "kernel image $kernel not found (run scripts/install-vm-deps.sh as root; it unpacks Debian's linux-image-amd64 into $cache)"
command -v timeout >/dev/null || skip "timeout (coreutils) not found"

work=$(mktemp -d "${TMPDIR:-/tmp}/memsafe-vm.XXXXXX")
log_is_temp=0
if [ -n "${MEMSAFE_VM_LOG:-}" ]; then
	log=$MEMSAFE_VM_LOG
else
	log=$(mktemp "${TMPDIR:-/tmp}/memsafe-vm-log.XXXXXX")
	log_is_temp=1
fi
trap 'rm -rf "$work"' EXIT

# Build the initramfs (exit 77 from it means busybox/cpio is missing).
"$here/mkinitramfs.sh" "$work/initramfs.cpio.gz" "$scenario" "$@"
rc=$?
[ $rc -eq 0 ] || exit $rc

scenario_timeout=$((vm_timeout - 60))
[ $scenario_timeout -ge 30 ] || scenario_timeout=30

# cgroup_no_v1=all: no controller may be bound to a v1 hierarchy.
# psi=1: Debian 6.1 builds CONFIG_PSI=y without PSI_DEFAULT_DISABLED, so this
#   is a no-op there, but keeps PSI on for kernels built the other way.
# systemd.unified_cgroup_hierarchy=1: ignored by our /init, kept so the
#   command line states the intent.
append="console=ttyS0 panic=-1 quiet cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 psi=1"
append="$append memsafe_timeout=$scenario_timeout ${MEMSAFE_VM_APPEND:-}"

# KVM when usable, otherwise TCG (qemu falls back in the order given).
accel=(-accel tcg)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	accel=(-accel kvm -accel tcg)
fi

echo "$prog: booting $(basename "$(readlink -f "$kernel")") (${accel[*]}, ${mem}M, timeout ${vm_timeout}s) for $(basename "$scenario")"
start=$SECONDS
# qemu's stdin is /dev/null so it never touches the terminal; console output
# goes (CRs stripped) to the log, and scenario lines are echoed as they come.
timeout -k 10 "$vm_timeout" "$qemu" "${accel[@]}" -cpu max -m "$mem" -smp 2 \
	-nographic -no-reboot -vga none -nic none \
	-kernel "$kernel" -initrd "$work/initramfs.cpio.gz" -append "$append" \
	</dev/null 2>&1 |
	tr -d '\r' | tee "$log" | {
		in_scenario=0
		while IFS= read -r line; do
			case $line in
			*MEMSAFE-VM-BEGIN*) in_scenario=1 ;;
			*MEMSAFE-VM-EXIT=*) in_scenario=0 ;;
			*) [ $in_scenario -eq 1 ] && printf '%s\n' "$line" ;;
			esac
		done
		true
	}
qemu_rc=${PIPESTATUS[0]}
elapsed=$((SECONDS - start))

marker=$(grep -a -o 'MEMSAFE-VM-EXIT=[0-9]*' "$log" | tail -n 1)
if [ -z "$marker" ]; then
	if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
		why="timed out after ${vm_timeout}s"
	else
		why="qemu exited with status $qemu_rc"
	fi
	echo "$prog: no MEMSAFE-VM-EXIT marker: $why (boot failure, kernel panic or timeout)" >&2
	echo "$prog: last console lines ($log):" >&2
	tail -n 40 "$log" | sed 's/^/  | /' >&2
	exit 99
fi
status=${marker#MEMSAFE-VM-EXIT=}
echo "$prog: scenario exited with status $status after ${elapsed}s (boot + scenario)"
if [ "$status" -eq 0 ] && [ $log_is_temp -eq 1 ]; then
	rm -f "$log"
else
	echo "$prog: console log: $log"
fi
exit "$status"
