# shellcheck shell=bash
# Which qemu accelerator the VM tests use: KVM only where it works, TCG otherwise. Sourced (bash) by every VM harness.
#
# /dev/kvm can exist and be writable while the CPU offers no
# virtualisation (no vmx/svm in /proc/cpuinfo, e.g. a VM without nested
# virtualisation): qemu then opens KVM, so "-accel kvm -accel tcg" does not
# fall back, and aborts when it sets up the vCPU ("failed to set MSR ...",
# exit 134). So KVM is chosen by what works, not by what exists:
#   1. the CPU reports vmx or svm, /dev/kvm is readable and writable, and
#   2. a probe boot succeeds: the VM kernel, with no root file system and
#      panic=-1, must get as far as its "Unable to mount root fs" panic
#      and qemu must exit 0 (about 1 s under KVM; given 60 s).
# Anything else is TCG. The answer is cached for the boot of the host, so
# every VM test of a run (and of later runs) probes at most once.
#
# Functions:
#   memsafe_vm_accel        prints "kvm" or "tcg"
#   memsafe_vm_accel_why    prints why (one line), after memsafe_vm_accel
#   memsafe_vm_accel_args [ACCEL]
#                           prints the qemu arguments for ACCEL (default:
#                           memsafe_vm_accel's answer), one per line:
#                             mapfile -t args < <(memsafe_vm_accel_args)
#   memsafe_vm_accel_demote REASON
#                           record that KVM failed after all (a boot that
#                           died before its scenario started): later calls
#                           in this boot say tcg (MEMSAFE_VM_ACCEL still wins)
#
# A harness that boots a VM prints, before each boot, a line ending in
#   accelerator: ACCEL (WHY)
# (run-vm.sh: "run-vm.sh: accelerator: tcg (...)"): scripts/check.sh reads
# the last such line of each test's log to say what the VM tests used.
# Use run-vm.sh, or: mapfile -t args < <(memsafe_vm_accel_args), and when a
# KVM boot dies before its scenario starts, memsafe_vm_accel_demote and
# boot once more with memsafe_vm_accel_args tcg.
#
# Environment:
#   MEMSAFE_VM_ACCEL    kvm or tcg: use it, no probe, no cache (anything
#                       else is an error)
#   MEMSAFE_VM_CACHE, MEMSAFE_VM_KERNEL
#                       the kernel the probe boots (as run-vm.sh)
#   TMPDIR              the cache lives in ${TMPDIR:-/tmp}/memsafe-vm-<uid>/
#                       (mode 0700), file accel.<boot id>
#
# Exit status of memsafe_vm_accel: 0, or 2 when MEMSAFE_VM_ACCEL is bad.

MEMSAFE_VM_ACCEL_WHY=${MEMSAFE_VM_ACCEL_WHY:-}

_memsafe_vm_accel_dir() {
	local d
	d="${TMPDIR:-/tmp}/memsafe-vm-$(id -u)"
	[ -d "$d" ] || mkdir -m 700 "$d" 2>/dev/null
	# Only a directory of our own that nobody else can write to: the
	# cache decides what runs, and root writes into it.
	if [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] &&
		[ -z "$(find "$d" -maxdepth 0 -perm /022 2>/dev/null)" ]; then
		printf '%s\n' "$d"
		return 0
	fi
	return 1
}

_memsafe_vm_accel_key() {
	local id
	id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) || id=
	printf '%s\n' "${id:-unknown-boot}"
}

# The identity of what the probe booted: a different kernel or qemu is
# probed again.
_memsafe_vm_accel_ident() {
	local k q
	k=$(readlink -f "${MEMSAFE_VM_KERNEL:-${MEMSAFE_VM_CACHE:-/var/cache/memsafed-vm}/vmlinuz}" 2>/dev/null)
	q=$(command -v qemu-system-x86_64 2>/dev/null)
	printf 'kernel=%s qemu=%s\n' "${k:-none}" "${q:-none}"
}

_memsafe_vm_accel_store() { # ACCEL WHY
	local d f t
	d=$(_memsafe_vm_accel_dir) || return 0
	f="$d/accel.$(_memsafe_vm_accel_key)"
	t=$(mktemp "$d/accel.tmp.XXXXXX") || return 0
	{
		printf 'accel=%s\n' "$1"
		printf 'why=%s\n' "$2"
		printf 'ident=%s\n' "$(_memsafe_vm_accel_ident)"
	} >"$t" && mv -f "$t" "$f" || rm -f "$t"
}

# Prints "ACCEL WHY" from the cache, if it holds an answer for this boot,
# this kernel and this qemu.
_memsafe_vm_accel_load() {
	local d f a w i
	d=$(_memsafe_vm_accel_dir) || return 1
	f="$d/accel.$(_memsafe_vm_accel_key)"
	[ -f "$f" ] && [ -O "$f" ] || return 1
	a=$(sed -n 's/^accel=//p' "$f")
	w=$(sed -n 's/^why=//p' "$f")
	i=$(sed -n 's/^ident=//p' "$f")
	case $a in kvm | tcg) ;; *) return 1 ;; esac
	[ "$i" = "$(_memsafe_vm_accel_ident)" ] || return 1
	printf '%s %s\n' "$a" "$w"
}

# The probe boot: prints "kvm WHY" or "tcg WHY".
_memsafe_vm_accel_probe() {
	local kernel out rc t0
	kernel=${MEMSAFE_VM_KERNEL:-${MEMSAFE_VM_CACHE:-/var/cache/memsafed-vm}/vmlinuz}
	if ! grep -qE '^flags[[:space:]]*:.*[[:space:]](vmx|svm)([[:space:]]|$)' /proc/cpuinfo 2>/dev/null; then
		if [ -e /dev/kvm ]; then
			echo "tcg the CPU offers no virtualisation (no vmx or svm in /proc/cpuinfo), although /dev/kvm exists"
		else
			echo "tcg the CPU offers no virtualisation (no vmx or svm in /proc/cpuinfo)"
		fi
		return
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "tcg /dev/kvm is missing or not readable and writable"
		return
	fi
	if ! command -v qemu-system-x86_64 >/dev/null || [ ! -r "$kernel" ]; then
		echo "tcg KVM not probed: no qemu-system-x86_64 or no kernel $kernel to boot"
		return
	fi
	t0=$SECONDS
	out=$( {
		timeout -k 5 60 qemu-system-x86_64 -accel kvm -cpu max -m 128 -smp 1 \
			-nographic -no-reboot -vga none -nic none -kernel "$kernel" \
			-append "console=ttyS0 panic=-1" </dev/null 2>&1
		echo "MEMSAFE-PROBE-RC=$?"
	} 2>/dev/null | tr -d '\r')
	rc=$(sed -n 's/^MEMSAFE-PROBE-RC=//p' <<<"$out" | tail -n 1)
	out=$(grep -av '^MEMSAFE-PROBE-RC=' <<<"$out")
	if [ "$rc" = 0 ] && grep -aq 'Unable to mount root fs' <<<"$out"; then
		echo "kvm the CPU has vmx/svm and a probe boot under KVM reached the kernel's root-mount panic in $((SECONDS - t0)) s"
	else
		out=$(grep -av '^[[:space:]]*$' <<<"$out" | tail -n 1 | cut -c1-200)
		echo "tcg the CPU has vmx/svm but a probe boot under KVM failed (qemu exit $rc after $((SECONDS - t0)) s: ${out:-no output})"
	fi
}

memsafe_vm_accel() {
	local got d fd
	case ${MEMSAFE_VM_ACCEL:-} in
	kvm | tcg)
		MEMSAFE_VM_ACCEL_WHY="set by MEMSAFE_VM_ACCEL"
		printf '%s\n' "$MEMSAFE_VM_ACCEL"
		return 0
		;;
	'') ;;
	*)
		echo "memsafe_vm_accel: MEMSAFE_VM_ACCEL must be kvm or tcg, not '$MEMSAFE_VM_ACCEL'" >&2
		return 2
		;;
	esac
	# One prober at a time: VM tests run in parallel under make -j.
	fd=
	if d=$(_memsafe_vm_accel_dir) && command -v flock >/dev/null; then
		exec {fd}>>"$d/accel.lock" && flock -w 120 "$fd"
	fi
	if got=$(_memsafe_vm_accel_load); then
		got="$got (cached for this boot)"
	else
		got=$(_memsafe_vm_accel_probe)
		_memsafe_vm_accel_store "${got%% *}" "${got#* }"
	fi
	[ -z "$fd" ] || exec {fd}>&-
	MEMSAFE_VM_ACCEL_WHY=${got#* }
	printf '%s\n' "${got%% *}"
}

# Why memsafe_vm_accel chose what it did: from this shell's last call or,
# when that ran in a subshell ($(memsafe_vm_accel)), from the cache.
memsafe_vm_accel_why() {
	local got
	case ${MEMSAFE_VM_ACCEL:-} in kvm | tcg)
		echo "set by MEMSAFE_VM_ACCEL"
		return
		;;
	esac
	if [ -n "$MEMSAFE_VM_ACCEL_WHY" ]; then
		printf '%s\n' "$MEMSAFE_VM_ACCEL_WHY"
	elif got=$(_memsafe_vm_accel_load); then
		printf '%s\n' "${got#* }"
	else
		echo "not chosen yet (call memsafe_vm_accel)"
	fi
}

memsafe_vm_accel_args() {
	local a=${1:-}
	[ -n "$a" ] || a=$(memsafe_vm_accel) || return
	case $a in
	kvm) printf '%s\n' -accel kvm -cpu max ;;
	# Multi-threaded TCG: one host thread per vCPU.
	tcg) printf '%s\n' -accel tcg,thread=multi -cpu max ;;
	*)
		echo "memsafe_vm_accel_args: unknown accelerator '$a'" >&2
		return 2
		;;
	esac
}

memsafe_vm_accel_demote() {
	# A forced choice (MEMSAFE_VM_ACCEL) is not the probe's: the cache
	# keeps what the probe found.
	case ${MEMSAFE_VM_ACCEL:-} in kvm | tcg) return 0 ;; esac
	MEMSAFE_VM_ACCEL_WHY="KVM was chosen but a boot under it died before its scenario started ($*)"
	_memsafe_vm_accel_store tcg "$MEMSAFE_VM_ACCEL_WHY"
}
