# Shared by the host integration tests: a private memsafed (own socket,
# own state directory, own config) driven with memsafectl, TAP output.
# Sourced by bash; needs the variables automake's AM_TESTS_ENVIRONMENT sets.

set -u
: "${MEMSAFED:?run through make check}" "${MEMSAFECTL:?}" "${MEMSAFE_WORKER:?}" \
  "${MKPDF:?}" "${JSONQ:?}" "${top_builddir:?}"

T_N=0
T_FAILED=0

ok() {   # ok CONDITION-EXIT-STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		echo "not ok $T_N - $2"
		T_FAILED=$((T_FAILED + 1))
	fi
}
check() { "$@" >/dev/null 2>&1; }   # check CMD...: status of CMD, quietly
is() {   # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; fi
}
# mem_bound MB: a bound on a worker's memory, in MB, for this build. Under
# ASan (MEMSAFE_SANITIZED=1) every allocation carries redzones, freed
# memory waits in a quarantine and the runtime adds its own: 3 times.
mem_bound() {
	if [ "${MEMSAFE_SANITIZED:-0}" = 1 ]; then echo $(( $1 * 3 )); else echo "$1"; fi
}
ge() {   # ge GOT MIN DESCRIPTION (numbers; decimals allowed)
	if awk -v g="$1" -v m="$2" 'BEGIN { exit !(g + 0 >= m + 0 && g != "") }'; then
		ok 0 "$3"
	else
		ok 1 "$3"; echo "#   got '$1', want >= $2"
	fi
}
# diag TEXT...: each argument (lines of it) as a "#   " comment, for what a
# failing check saw.
diag() { printf '%s\n' "$@" | sed 's/^/#   /'; }
# ok_saw STATUS DESCRIPTION SAW...: ok, and when it failed, what it saw.
ok_saw() {
	local st=$1 d=$2
	shift 2
	ok "$st" "$d"
	[ "$st" -eq 0 ] || diag "$@"
}
# diag_file LABEL FILE: a file's content as comments.
diag_file() {
	echo "#   --- $1 ($2):"
	if [ -r "$2" ]; then sed 's/^/#   | /' "$2"; else echo "#   (not readable)"; fi
}
# mem_available_mb: the host's MemAvailable now, in MB.
mem_available_mb() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
le() {   # le GOT MAX DESCRIPTION (numbers; decimals allowed)
	if awk -v g="$1" -v m="$2" 'BEGIN { exit !(g + 0 <= m + 0 && g != "") }'; then
		ok 0 "$3"
	else
		ok 1 "$3"; echo "#   got '$1', want <= $2"
	fi
}
# rss_le GOT_KB MAX_KB DESCRIPTION: le for a daemon's RSS, which says
# nothing under AddressSanitizer (freed memory waits in a quarantine of
# 256 MB): there a counted skip.
rss_le() {
	if grep -q __asan_init "$MEMSAFED" 2>/dev/null; then
		ok 0 "# SKIP $3: not checked, $MEMSAFED is built with AddressSanitizer"
	else
		le "$1" "$2" "$3"
	fi
}
# A test that cannot run here: a counted SKIP with its reason. Under the
# TAP driver that is a "1..0 # SKIP" plan and exit 0 (77 would be an ERROR).
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$T_N"; [ "$T_FAILED" -eq 0 ]; }
jq_() { "$JSONQ" "$@"; }
# chunks_of JOB FILE: the job's chunks in FILE (a chunks.jsonl), in the
# order they were flushed, as "page:N,"text":..." lines (no batch ids,
# which differ between runs).
chunks_of() { grep "^{\"job\":$1," "$2" | sed 's/.*,"page":/page:/'; }
# wait_until SECONDS CMD...: true as soon as CMD is, false after SECONDS.
wait_until() {
	local n=$(($1 * 20))
	shift
	until "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.05
	done
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root to create cgroups with memory limits"

T_DIR="$top_builddir/tests/integration/$(basename "$0" .test).dir"
rm -rf "$T_DIR"
mkdir -p "$T_DIR"
SOCK="$T_DIR/memsafed.sock"
STATE="$T_DIR/state"
CONF="$T_DIR/memsafed.conf"
DAEMON_PID=
ctl() { "$MEMSAFECTL" --socket "$SOCK" "$@"; }

# write_config [EXTRA INI TEXT]: a config for a private daemon. Workers
# drop to "nobody", which every Debian system has. No pressure policy: the
# host's PSI is shared by every test running alongside, and a policy would
# pause or hold back one test's jobs for another's OOM (the policies are
# tested in the VM, tests/vm/scenario.sh). A [pressure] group in the extra
# text merges with this one.
write_config() {
	cat >"$CONF" <<-CONF
	[daemon]
	socket = $SOCK
	state_dir = $STATE
	worker_user = nobody
	sample_interval = 100ms
	[job]
	memory_max = 256M
	[pressure]
	policy = none
	CONF
	[ $# -gt 0 ] && printf '%s\n' "$@" >>"$CONF"
	return 0
}

start_daemon() {
	[ -f "$CONF" ] || write_config
	"$MEMSAFED" --config "$CONF" --worker "$MEMSAFE_WORKER" >>"$T_DIR/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && ctl status >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# memsafed did not start; its log:"
	sed 's/^/#   /' "$T_DIR/daemon.log"
	return 1
}

# Where this daemon makes its job cgroups, from its log on stderr or, when
# that was the journal (logs.test), the journal's.
jobs_cgroup_dir() {
	cat "$T_DIR/daemon.log" "$T_DIR/journal.log" 2>/dev/null |
		sed -n 's/.*jobs in \([^	]*\).*$/\1/p' | tail -n 1
}

# No job cgroup, worker process, zombie child of the daemon or spool file
# may outlive its job. A cgroup whose last task is still exiting is
# removed by a timer every 20 ms, and a killed child is reaped once it
# has exited: what is still there after a second is left behind.
leftovers() {
	local dir found
	dir=$(jobs_cgroup_dir)
	for _ in $(seq 10); do
		# Only this daemon's: other tests may run their own workers.
		found=$( { [ -n "$dir" ] && find "$dir" -mindepth 1 -maxdepth 1 -type d -name 'job-*'
			   find "$STATE/spool" -type f 2>/dev/null
			   [ -n "$dir" ] && grep -l "/${dir##*/}/job-" /proc/[0-9]*/cgroup 2>/dev/null
			   # an exec sink or worker the daemon never reaped
			   [ -n "$DAEMON_PID" ] && awk -v p="$DAEMON_PID" '
				FNR == 1 { z = 0 }
				$1 == "State:" && $2 == "Z" { z = 1 }
				$1 == "PPid:" && $2 == p && z { print FILENAME ": a zombie" }' \
				/proc/[0-9]*/status 2>/dev/null; } |
			 sed '/^$/d')
		[ -n "$found" ] || break
		sleep 0.1
	done
	[ -z "$found" ] || printf '%s\n' "$found" | sed 's/^/# left: /' >&2
	printf '%s' "$found" | grep -c . || true
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	local rc=$?
	DAEMON_PID=
	return $rc
}
trap 'stop_daemon; true' EXIT

# The document job's summary value: sumq JOB PATH.
sumq() { jq_ "$STATE/jobs/$1/summary.json" "$2"; }
