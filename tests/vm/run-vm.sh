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
#   MEMSAFE_VM_TIMEOUT  seconds for the whole boot + scenario (default 300
#                       under KVM, 600 under TCG); the scenario itself gets
#                       this minus 60 (at least 30)
#   MEMSAFE_VM_LOG      file that receives the full console output (kernel
#                       log included); default: a temp file, removed when the
#                       scenario passes, kept (and named) when it does not
#   MEMSAFE_VM_FILES    space-separated absolute paths of extra files or
#                       directories to copy into the VM at the same paths
#   MEMSAFE_VM_MEM      guest RAM in MiB (default 1024)
#   MEMSAFE_VM_ACCEL    kvm or tcg; default: chosen by tests/vm/accel.sh
#                       (KVM only if the CPU has vmx/svm and a probe boot
#                       under it works; cached for the host's boot)
#   MEMSAFE_VM_APPEND   extra kernel command-line words; key=value words
#                       the kernel does not know become environment
#                       variables of /init and so of the scenario
#
# Output: "run-vm.sh: accelerator: kvm|tcg (why)" before each boot (also
# the first line of the log), the scenario's own output lines, then a
# summary line naming the accelerator. A boot under KVM that dies before
# the scenario starts (no MEMSAFE-VM-BEGIN) is said so, with its last
# console lines, and tried once more under TCG.
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

# cgroup_no_v1=all: no controller may be bound to a v1 hierarchy.
# psi=1: Debian 6.1 builds CONFIG_PSI=y without PSI_DEFAULT_DISABLED, so this
#   is a no-op there, but keeps PSI on for kernels built the other way.
# systemd.unified_cgroup_hierarchy=1: ignored by our /init, kept so the
#   command line states the intent.
append="console=ttyS0 panic=-1 quiet cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 psi=1"

# KVM only where it works (tests/vm/accel.sh: vmx/svm and a probe boot),
# otherwise TCG; a KVM boot that dies before the scenario starts is tried
# once more under TCG.
. "$here/accel.sh"
accel=$(memsafe_vm_accel) || exit 2
accel_why=$(memsafe_vm_accel_why)

# boot ACCEL WHY: one boot; the console (CRs stripped) is appended to the
# log after a line naming the accelerator, and scenario lines are echoed
# as they come. qemu's stdin is /dev/null so it never touches the
# terminal. Sets qemu_rc and elapsed.
boot() {
	local args scenario_timeout
	mapfile -t args < <(memsafe_vm_accel_args "$1")
	# TCG is several times slower than KVM (the scenario took 75 to 192 s
	# under TCG on a loaded 2-core host): it gets twice the time.
	vm_timeout=${MEMSAFE_VM_TIMEOUT:-$([ "$1" = tcg ] && echo 600 || echo 300)}
	scenario_timeout=$((vm_timeout - 60))
	[ $scenario_timeout -ge 30 ] || scenario_timeout=30
	echo "$prog: accelerator: $1 ($2)"
	echo "$prog: booting $(basename "$(readlink -f "$kernel")") (${args[*]}, ${mem}M, timeout ${vm_timeout}s) for $(basename "$scenario")"
	echo "$prog: accelerator: $1 ($2)" >>"$log"
	start=$SECONDS
	# (The group's stderr is not the console's: bash's own "Aborted" for
	# a qemu that died of a signal goes nowhere; qemu's is in the log.)
	{ timeout -k 10 "$vm_timeout" "$qemu" "${args[@]}" -m "$mem" -smp 2 \
		-nographic -no-reboot -vga none -nic none \
		-kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
		-append "$append memsafe_timeout=$scenario_timeout ${MEMSAFE_VM_APPEND:-}" \
		</dev/null 2>&1; } 2>/dev/null |
		tr -d '\r' | tee -a "$log" | {
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
}

: >"$log"
boot "$accel" "$accel_why"
if [ "$accel" = kvm ] && ! grep -aq 'MEMSAFE-VM-BEGIN' "$log"; then
	last=$(grep -av '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-200)
	echo "$prog: the boot under KVM died before the scenario started (qemu exit $qemu_rc after ${elapsed}s); its last console lines:"
	grep -av '^[[:space:]]*$' "$log" | tail -n 8 | cut -c1-200 | sed 's/^/  | /'
	echo "$prog: retrying once under TCG (later VM tests of this boot use TCG too)"
	memsafe_vm_accel_demote "qemu exit $qemu_rc: ${last:-no output}"
	accel=tcg
	boot tcg "retry: the KVM boot died before the scenario started"
fi

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
echo "$prog: scenario exited with status $status after ${elapsed}s (boot + scenario, under $accel)"
if [ "$status" -eq 0 ] && [ $log_is_temp -eq 1 ]; then
	rm -f "$log"
else
	echo "$prog: console log: $log"
fi
exit "$status"
