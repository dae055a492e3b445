#!/bin/bash
# Run one libFuzzer target (a build configured with --enable-fuzzing) over
# its seed corpus and report in TAP: `run.sh TARGET` with TARGET one of
# protocol, frame, config, parsers. The tests/fuzz/TARGET.test wrappers
# call it from `make check`; `make fuzz-long` calls it for each target.
#
#   FUZZ_RUNS=N      inputs to try (default 20000; config a quarter): make check
#   FUZZ_SECONDS=S   run for S seconds instead: make fuzz-long
#   FUZZ_SEED=N      libFuzzer's -seed (default 1, so make check is
#                    repeatable; 0 picks one at random)
#   FUZZ_KEEP=1      keep the inputs that found new coverage in
#                    tests/fuzz/TARGET.corpus (else a temporary directory)
#
# Inputs libFuzzer generates never go into the source tree: the seed
# corpus is read-only to it. A crash leaves its input in
# tests/fuzz/crash-TARGET-* (build tree); add it to corpus/TARGET/ once the
# bug is fixed.
set -u
target=${1:?usage: run.sh protocol|frame|config|parsers}
here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:?run through make check or make fuzz-long}"
bin="$top_builddir/tests/fuzz/fuzz-$target"
seeds="$here/corpus/$target"

[ -x "$bin" ] || { echo "1..0 # SKIP $bin not built"; exit 77; }
mkdir -p "$top_builddir/tests/fuzz"
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
	work="$top_builddir/tests/fuzz/$target.corpus"
	log="$top_builddir/tests/fuzz/fuzz-$target.log"
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/memsafe-fuzz-$target.XXXXXX") || exit 1
	log="$work.log"
	trap 'rm -rf "$work" "$log"' EXIT
fi
if [ -n "${FUZZ_SECONDS:-}" ]; then
	limit=(-max_total_time="$FUZZ_SECONDS")
else
	runs=${FUZZ_RUNS:-20000}
	# Each config input is written to files and loaded twice: a quarter
	# of the inputs keeps its run as short as the others'.
	[ "$target" = config ] && runs=$((runs / 4))
	# A run that takes minutes is a hang, not a slow fuzzer.
	limit=(-runs="$runs" -max_total_time=300)
fi

# -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or an
# unbounded allocation is a bug even when nothing crashes; -close_fd_mask:
# the targets print nothing worth keeping.
"$bin" "${limit[@]}" -seed="${FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=1024 \
	-print_final_stats=1 -artifact_prefix="$top_builddir/tests/fuzz/crash-$target-" \
	"$work" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
echo "1..1"
if [ "$rc" -eq 0 ]; then
	echo "ok 1 - fuzz-$target: ${execs:-?} inputs, no crash (coverage ${cov:-?} edges)"
else
	echo "not ok 1 - fuzz-$target crashed (exit $rc) after ${execs:-?} inputs"
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant broken|    #[0-9]+ )' "$log" | head -n 30 | sed 's/^/# /'
	ls "$top_builddir/tests/fuzz/crash-$target-"* 2>/dev/null | sed 's/^/# input: /'
fi
exit "$rc"
