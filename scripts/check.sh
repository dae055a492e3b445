#!/bin/bash
# Run the whole test suite: install what is missing, build, `make check`
# with the cgroup-v2 VM test required (it may not skip), say which qemu
# accelerator each VM test used (kvm or tcg), and end with the line
# "N passed, N failed" from automake's totals. Run as root.
#
# Then a build in _build-san with --enable-sanitizers (ASan+UBSan) runs
# every test but the VM test (its kernel boots the same binaries; the host
# tests cover them under the sanitizers); MEMSAFE_SANITIZE_PASS=0 leaves
# this pass out. Where clang can build libFuzzer targets, that
# build uses clang with --enable-fuzzing, so each fuzz target also runs
# for a fixed number of inputs (tests/fuzz/README); else gcc, and the fuzz
# corpus is replayed. MEMSAFE_SAN_CC picks the compiler. A test result
# skipped there is listed but not a failure (some measurements cannot be
# made under ASan, e.g. mallinfo2 in test-chunker); the main pass is
# where skips fail. The final line counts both passes.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/install-deps.sh" || exit 1
bash "$top/scripts/build.sh" || exit 1
cd "$top/_build"
start=$(date +%s)
MEMSAFE_REQUIRE_VM=1 make -j2 check
rc=$?
echo "make check took $(( $(date +%s) - start )) s"
# Which accelerator each VM test booted under (tests/vm/accel.sh chooses:
# KVM only where it works): a VM harness prints "accelerator: kvm|tcg
# (why)" before each boot, so the last such line of a test's log is the
# one it ran under. Every test log is looked at, wherever the VM test
# lives; a tests/vm/ test without such a line did not boot.
vm_logs=$( { grep -rlaE 'accelerator: (kvm|tcg)' "$top/_build/tests" --include='*.log' 2>/dev/null
	ls "$top"/_build/tests/vm/*.log 2>/dev/null; } | sort -u)
for log in $vm_logs; do
	[ -f "${log%.log}.trs" ] || continue   # a test's log, not a console log
	t=${log#"$top/_build/"}
	t=${t%.log}.test
	line=$(grep -aoE 'accelerator: (kvm|tcg)( .*)?$' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		echo "VM test $t: $line"
	else
		echo "VM test $t: no VM booted (no accelerator line in $log)"
	fi
	grep -aq 'died before the scenario started' "$log" &&
		echo "VM test $t: a boot under KVM died before its scenario started; it was retried under TCG"
done
pass=0 fail=0 skip=0 failures=
# tally DIR RC SKIP-FAILS: add DIR/test-suite.log's totals; with
# SKIP-FAILS=1, skipped tests count as failures unless MEMSAFE_ALLOW_SKIP=1.
# Returns non-zero when DIR failed.
tally() {
	local dir=$1 rc=$2 skip_fails=$3 p f s log=$1/test-suite.log
	n() { sed -n "s/^# $1: *//p" "$log" | head -n 1; }
	p=$(( $(n PASS) + $(n XFAIL) ))
	f=$(( $(n FAIL) + $(n XPASS) + $(n ERROR) ))
	s=$(n SKIP)
	s=${s:-0}
	if [ "$s" -gt 0 ] && [ "$skip_fails" = 0 ]; then
		echo "skipped under the sanitizers (the main pass runs them):"
		grep -h '^SKIP' "$dir"/tests/*/*.log 2>/dev/null | sed 's/^/  /'
	elif [ "$s" -gt 0 ] && [ "${MEMSAFE_ALLOW_SKIP:-0}" != 1 ]; then
		echo "skipped tests are failures here (set MEMSAFE_ALLOW_SKIP=1 to allow):"
		grep -l '^SKIP' -r "$dir/tests" --include='*.trs' 2>/dev/null | sed 's/^/  /'
		grep -E '^(SKIP|# SKIP)' "$dir"/tests/*/*.log 2>/dev/null | sed 's/^/  /'
		f=$((f + s))
		rc=1
	fi
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
	if [ "$f" -gt 0 ]; then
		# Name what failed, with the lines before it.
		failures+="failed in $dir:"$'\n'
		failures+=$(grep -hE '^(FAIL|XPASS|ERROR):' "$dir"/tests/*/*.log 2>/dev/null | sed 's/^/  /')$'\n'
		failures+=$(grep -h -B 12 -E '^not ok|^ERROR:' "$dir"/tests/*/*.log 2>/dev/null |
			tail -n 40 | sed 's/^/  | /')$'\n'
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
}
tally "$top/_build" "$rc" 1
ok=$?

if [ "${MEMSAFE_SANITIZE_PASS:-1}" != 0 ]; then
	san_cc=${MEMSAFE_SAN_CC:-}
	if [ -z "$san_cc" ]; then
		san_cc=gcc
		printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
			clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null && san_cc=clang
	fi
	echo "sanitizer pass: ASan+UBSan build in _build-san with $san_cc"
	mkdir -p "$top/_build-san"
	cd "$top/_build-san" || exit 1
	# Reconfigure when the compiler asked for is not the one configured.
	if ! grep -q "^CC = $san_cc\$" Makefile 2>/dev/null; then
		"$top/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
			--runstatedir=/run --enable-sanitizers --enable-fuzzing=auto \
			CC="$san_cc" >configure.out 2>&1 ||
			{ tail -n 20 configure.out; echo "sanitizer pass: configure failed"; exit 1; }
	fi
	san_rc=0
	make -j"$(nproc)" >build.out 2>&1 || { tail -n 30 build.out; san_rc=1; }
	if [ "$san_rc" -eq 0 ]; then
		# Every test but the VM ones: the TESTS list of this build's
		# Makefile, without tests/vm/.
		tests=$(printf 'print-tests:\n\t@echo $(TESTS)\n' | make -s -f Makefile -f - print-tests |
			tr ' ' '\n' | grep -v '^tests/vm' | tr '\n' ' ')
		start=$(date +%s)
		# halt_on_error: a UBSan report fails the test that caused it.
		# LeakSanitizer stays on (its default); fontconfig's caches, which
		# cairo (memsafectl plot) leaves allocated at exit by design, are
		# not ours to free.
		printf 'leak:libfontconfig.so\n' >lsan.supp
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions="$PWD/lsan.supp" \
			make -j2 check TESTS="$tests"
		san_rc=$?
		echo "sanitizer pass: make check took $(( $(date +%s) - start )) s"
		tally "$top/_build-san" "$san_rc" 0 || ok=1
	else
		echo "sanitizer pass: build failed"
		fail=$((fail + 1))
		ok=1
	fi
fi

[ "$skip" -eq 0 ] || echo "$skip skipped (listed above)"
# What failed is printed last, so the end of the output names it.
[ -z "$failures" ] || printf '%s' "$failures"
echo "$pass passed, $fail failed"
[ "$ok" -eq 0 ] && [ "$fail" -eq 0 ]
