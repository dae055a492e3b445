#!/bin/sh
# memsafed in pure cgroup v2 (busybox sh, run as /scenario.sh by tests/vm/run-vm.sh): start the daemon the way systemd's Delegate=yes would, drive it with memsafectl, print TAP.
#
# Environment (tests/vm/vm.test passes these on the kernel command line,
# which /init hands on as environment variables):
#   MEMSAFED, MEMSAFECTL, MEMSAFE_WORKER   absolute paths of the binaries
#                                          (copied into the VM at the same paths)
#   MEMSAFE_VM_DATA                        directory holding doc5.pdf (5 pages)
#                                          and doc3.pdf (3 pages), made by mkpdf
# Output: TAP ("ok N - ...", "not ok N - ...", "# ..." diagnostics, a final
# plan "1..N"); every other line a command might print is kept off stdout.
# Exit status: 0 when every check passed, 1 otherwise.

CG=/sys/fs/cgroup
SVC=$CG/memsafed.service
JOBS=$SVC/jobs
RUNDIR=/run/memsafed
SOCK=$RUNDIR/memsafed.sock
STATE=/tmp/memsafed-state
CONF=/tmp/memsafed.conf
LOG=/tmp/memsafed.log
OUT=/tmp/scenario-out
WORKER_UID=990
WORKER_GID=990

n=0
failed=0
dpid=

# --- TAP helpers -----------------------------------------------------------
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION COMMAND...: one test point from a command's status
check() {
	_d=$1
	shift
	if "$@"; then ok "$_d"; else not_ok "$_d"; fi
}
# diag [TEXT...]: TEXT (or stdin) as "# " lines
diag() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$*" | sed 's/^/# /'
	else
		sed 's/^/# /'
	fi
}
# diag_file LABEL FILE: a file's content as diagnostics
diag_file() {
	diag "--- $1 ($2):"
	if [ -r "$2" ]; then diag <"$2"; else diag "(not readable)"; fi
}
finish() {
	if [ -n "$dpid" ] && alive "$dpid"; then
		kill -KILL "$dpid" 2>/dev/null
	fi
	diag_file "memsafed log" "$LOG"
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}
# bail REASON: the remaining checks cannot run; fail and stop here.
bail() {
	not_ok "$*"
	finish
}
trap 'not_ok "scenario interrupted by a signal (VM time limit?)"; finish' TERM INT

# --- JSON, the busybox way (no jq) -----------------------------------------
# json_str FILE KEY: the first string value of "KEY" in FILE
json_str() {
	tr -d '\n' <"$1" | grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n 1 |
		sed 's/^.*:[[:space:]]*"\(.*\)"$/\1/'
}
# json_num FILE KEY: the first number value of "KEY" in FILE (empty if none)
json_num() {
	tr -d '\n' <"$1" | grep -o "\"$2\"[[:space:]]*:[[:space:]]*[-0-9.eE+]*" | head -n 1 |
		sed 's/^.*:[[:space:]]*//'
}
# num_ge A B / num_between X LO HI: numeric comparisons (decimals allowed)
num_ge() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
num_between() { [ -n "$1" ] && awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x + 0 >= lo + 0 && x + 0 <= hi + 0) }'; }

# artifacts_of FILE: the job directory named by memsafectl's "artifacts: DIR"
artifacts_of() { sed -n 's/^[[:space:]]*artifacts:[[:space:]]*//p' "$1" | head -n 1; }

# ctl ARGS...: memsafectl on our socket, output to $OUT, bounded in time
ctl() {
	timeout 120 "$MEMSAFECTL" -s "$SOCK" "$@" >"$OUT" 2>&1
}

# alive PID: PID exists and is not a zombie (kill -0 succeeds on an
# exited child the shell has not reaped yet)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

# worker_pids: pids of every process running memsafe-worker
worker_pids() {
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = memsafe-worker ] && echo "${d#/proc/}"
	done
}
# job_cgroups: job-* directories left in the daemon's jobs/ cgroup
job_cgroups() {
	for d in "$JOBS"/job-*; do
		[ -d "$d" ] && echo "$d"
	done
}

# --- environment -----------------------------------------------------------
diag "kernel $(uname -r); root cgroup.controllers: $(cat $CG/cgroup.controllers 2>/dev/null)"
for v in MEMSAFED MEMSAFECTL MEMSAFE_WORKER MEMSAFE_VM_DATA; do
	eval "val=\${$v:-}"
	[ -n "$val" ] || bail "environment: $v is not set (run this through tests/vm/vm.test)"
	[ -e "$val" ] || bail "environment: $v=$val does not exist in the VM"
done
DOC5=$MEMSAFE_VM_DATA/doc5.pdf
DOC3=$MEMSAFE_VM_DATA/doc3.pdf
[ -r "$DOC5" ] && [ -r "$DOC3" ] || bail "environment: $DOC5 or $DOC3 missing"
check "pure cgroup v2: cgroup2 on $CG and no v1 hierarchy" \
	sh -c "grep -q '^cgroup2 $CG cgroup2 ' /proc/mounts && ! grep -q ' cgroup ' /proc/mounts"

# --- start memsafed as systemd would with Delegate=yes ----------------------
# The service cgroup is created by "systemd" (us) with memory and pids
# available to it; the daemon starts inside it and owns the subtree.
mkdir -p "$SVC" || bail "cannot create $SVC"
echo "+memory +pids" >$CG/cgroup.subtree_control || bail "cannot enable +memory +pids in $CG/cgroup.subtree_control"
cat >"$CONF" <<EOF
[daemon]
socket = $SOCK
state_dir = $STATE
worker = $MEMSAFE_WORKER
worker_user = memsafe-worker
[limits]
reserve = 64M
[job]
memory_max = 256M
EOF
(
	echo 0 >"$SVC/cgroup.procs" || exit 97
	exec "$MEMSAFED" --config "$CONF"
) </dev/null >"$LOG" 2>&1 &
dpid=$!

i=0
while [ ! -S "$SOCK" ] && [ $i -lt 300 ]; do
	alive "$dpid" || break
	sleep 0.1
	i=$((i + 1))
done
if [ ! -S "$SOCK" ]; then
	if alive "$dpid"; then
		bail "memsafed started: no socket $SOCK after 30 s"
	fi
	wait "$dpid"
	bail "memsafed started: it exited with status $? before creating $SOCK"
fi
ok "memsafed started in $SVC and listens on $SOCK"

# --- a. unified mode, daemon in supervisor/, controllers delegated to jobs/ --
check "a. the daemon's log says cgroup mode unified" grep -q 'cgroup mode unified' "$LOG"
self_cg=$(sed -n 's/^0:://p' "/proc/$dpid/cgroup" 2>/dev/null)
if [ "$self_cg" = /memsafed.service/supervisor ]; then
	ok "a. the daemon moved itself into the leaf memsafed.service/supervisor"
else
	not_ok "a. the daemon moved itself into the leaf memsafed.service/supervisor"
	diag "its /proc/$dpid/cgroup says: $self_cg"
fi
if grep -qw memory "$SVC/cgroup.subtree_control" && grep -qw pids "$SVC/cgroup.subtree_control" &&
	grep -qw memory "$JOBS/cgroup.subtree_control" 2>/dev/null; then
	ok "a. memory and pids enabled for memsafed.service's children and memory for jobs/ children"
else
	not_ok "a. memory and pids enabled for memsafed.service's children and memory for jobs/ children"
	diag "$SVC/cgroup.subtree_control: $(cat "$SVC/cgroup.subtree_control")"
	diag "$JOBS/cgroup.subtree_control: $(cat "$JOBS/cgroup.subtree_control" 2>&1)"
fi

# --- b. a normal job on a 5-page PDF ----------------------------------------
ctl submit "$DOC5" --wait
st=$?
art=$(artifacts_of "$OUT")
if [ $st -eq 0 ] && [ -n "$art" ] && [ -f "$art/summary.json" ]; then
	ok "b. submit --wait of a 5-page PDF exits 0 and names its artifacts ($art)"
else
	not_ok "b. submit --wait of a 5-page PDF exits 0 and names its artifacts (exit $st)"
	diag_file "memsafectl output" "$OUT"
fi
sum=${art:-/nonexistent}/summary.json
check "b. summary.json: status done" test "$(json_str "$sum" status)" = "done"
check "b. summary.json: end_reason ok" test "$(json_str "$sum" end_reason)" = ok
check "b. summary.json: document pages 5" test "$(json_num "$sum" pages)" = 5
check "b. ingest_manifest.json written" test -s "${art:-/nonexistent}/ingest_manifest.json"
chunks=$STATE/kb/default/chunks.jsonl
check "b. chunks.jsonl holds the text of page 3 (\"Page 3 of 5\")" grep -q 'Page 3 of 5' "$chunks"
[ "$failed" -eq 0 ] || { diag_file summary.json "$sum"; }

# --- c. an OOM job: 100 MB under a 32M cap ----------------------------------
f0=$failed
ctl simulate-pressure --target-mb 100 --memory-max 32M
st=$?
art=$(artifacts_of "$OUT")
check "c. simulate-pressure --target-mb 100 --memory-max 32M exits 1 (exit $st)" test $st -eq 1
sum=${art:-/nonexistent}/summary.json
check "c. summary.json: status oom_killed" test "$(json_str "$sum" status)" = oom_killed
check "c. summary.json: end_reason oom_kill" test "$(json_str "$sum" end_reason)" = oom_kill
v=$(json_num "$sum" oom_kill)
check "c. summary.json: cgroup_events.oom_kill >= 1 (got ${v:-none})" num_ge "$v" 1
v=$(json_num "$sum" oom_group_kill)
check "c. summary.json: cgroup_events.oom_group_kill >= 1 (got ${v:-none})" num_ge "$v" 1
v=$(json_num "$sum" memory_max_mb)
check "c. summary.json: memory_max_mb 32 (got ${v:-none})" num_between "$v" 31.99 32.01
v=$(json_num "$sum" peak_cgroup_mb)
check "c. summary.json: peak_cgroup_mb about 32 (28 to 32.01; got ${v:-none})" num_between "$v" 28 32.01
[ "$failed" -eq "$f0" ] || { diag_file "memsafectl output" "$OUT"; diag_file summary.json "$sum"; }

# --- d. the daemon survived; the next job is fine ---------------------------
check "d. memsafed is still running after the OOM kill" alive "$dpid"
ctl submit "$DOC3" --wait
st=$?
art=$(artifacts_of "$OUT")
sum=${art:-/nonexistent}/summary.json
if [ $st -eq 0 ] && [ "$(json_str "$sum" status)" = "done" ] && [ "$(json_num "$sum" pages)" = 3 ] &&
	grep -q 'Page 3 of 3' "$chunks"; then
	ok "d. a following 3-page job ends done (exit 0, status done, pages 3, chunks written)"
else
	not_ok "d. a following 3-page job ends done (exit $st, status $(json_str "$sum" status))"
	diag_file "memsafectl output" "$OUT"
fi

# --- e. nothing leaked -----------------------------------------------------
# Allow the daemon a moment to reap and rmdir after the client got its reply.
i=0
while [ -n "$(job_cgroups)$(worker_pids)" ] && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
left=$(job_cgroups)
check "e. no job-* cgroup left in $JOBS${left:+ (left: $left)}" test -z "$left"
left=$(worker_pids)
check "e. no memsafe-worker process left${left:+ (pids: $left)}" test -z "$left"

# --- f. the worker runs sandboxed inside its job cgroup ---------------------
ctl_bg_out=/tmp/scenario-hold-out
timeout 120 "$MEMSAFECTL" -s "$SOCK" simulate-pressure --target-mb 8 --memory-max 64M \
	--hold-ms 3000 >"$ctl_bg_out" 2>&1 &
bg=$!
found_cg="" found_pid="" seen=""
i=0
while [ -z "$found_pid" ] && [ $i -lt 150 ]; do
	for d in $(job_cgroups); do
		[ "$(cat "$d/memory.max" 2>/dev/null)" = 67108864 ] || continue
		found_cg=$d
		for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
			seen="$seen $p"
			uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$p/status" 2>/dev/null)
			if [ "$uids" = "$WORKER_UID $WORKER_UID $WORKER_UID $WORKER_UID" ]; then
				found_pid=$p
				break
			fi
		done
	done
	[ -n "$found_pid" ] && break
	alive "$bg" || break
	sleep 0.1
	i=$((i + 1))
done
check "f. a job cgroup with memory.max 67108864 (64M) exists while the job holds${found_cg:+ ($found_cg)}" \
	test -n "$found_cg"
if [ -n "$found_pid" ]; then
	ok "f. its cgroup.procs holds pid $found_pid running as uid $WORKER_UID (memsafe-worker)"
	st_file=/proc/$found_pid/status
	check "f. pid $found_pid is memsafe-worker" test "$(cat "/proc/$found_pid/comm" 2>/dev/null)" = memsafe-worker
	check "f. its /proc/PID/cgroup is that job cgroup" \
		test "$(sed -n 's/^0:://p' "/proc/$found_pid/cgroup" 2>/dev/null)" = "${found_cg#"$CG"}"
	g=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$st_file" 2>/dev/null)
	check "f. its gids are all $WORKER_GID (got $g)" test "$g" = "$WORKER_GID $WORKER_GID $WORKER_GID $WORKER_GID"
	v=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$st_file" 2>/dev/null)
	check "f. it runs with no_new_privs (NoNewPrivs: ${v:-?})" test "$v" = 1
	v=$(awk '$1 == "Seccomp:" { print $2 }' "$st_file" 2>/dev/null)
	check "f. it runs under a seccomp filter (Seccomp: ${v:-?})" test "$v" = 2
else
	not_ok "f. its cgroup.procs holds a pid running as uid $WORKER_UID (memsafe-worker) (pids seen:${seen:- none})"
	for p in $seen; do
		diag "pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) $(grep -E '^(Uid|Gid):' "/proc/$p/status" 2>/dev/null | tr '\n\t' '  ')"
	done
fi
wait "$bg"
st=$?
art=$(artifacts_of "$ctl_bg_out")
sum=${art:-/nonexistent}/summary.json
if [ $st -eq 0 ] && [ "$(json_str "$sum" status)" = "done" ]; then
	ok "f. the held 8 MB pressure job then ends done (exit 0)"
else
	not_ok "f. the held 8 MB pressure job then ends done (exit $st, status $(json_str "$sum" status))"
	diag_file "memsafectl output" "$ctl_bg_out"
fi
i=0
while [ -n "$(job_cgroups)" ] && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
left=$(job_cgroups)
check "f. its job cgroup is removed afterwards${left:+ (left: $left)}" test -z "$left"

# --- g. SIGTERM: clean stop -------------------------------------------------
kill -TERM "$dpid"
i=0
while alive "$dpid" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if alive "$dpid"; then
	not_ok "g. memsafed exits within 10 s of SIGTERM (still running)"
	kill -KILL "$dpid" 2>/dev/null
	wait "$dpid"
else
	wait "$dpid"
	st=$?
	check "g. memsafed exits 0 within 10 s of SIGTERM (status $st)" test $st -eq 0
fi
dpid=
check "g. memsafed removed its socket $SOCK" test ! -e "$SOCK"
left=$(worker_pids)
check "g. no memsafe-worker process outlives the daemon${left:+ (pids: $left)}" test -z "$left"

finish
