#!/bin/sh
# VM self-check scenario (busybox sh, run as /scenario.sh): proves the VM gives a working pure cgroup-v2 memory controller, OOM kill, PSI triggers.
#
# Mirrors what memsafed does: move into a leaf (supervisor/) of its own
# "service" cgroup, enable +memory +pids for the children, create a job
# cgroup with memory.max=32M, swap.max=0, oom.group=1, run a 100 MB
# allocation there, and check it is OOM-killed and counted.
# Exit 0 only if every check passes.

CG=/sys/fs/cgroup
SVC=$CG/memsafe-selfcheck.service
JOB=$SVC/jobs/job-1
failures=0
checks=0

pass() { checks=$((checks + 1)); echo "PASS: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# value FILE KEY: the number after KEY in a flat-keyed file such as memory.events
value() { awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print -1 }' "$1"; }

echo "kernel: $(uname -r)"
echo "cmdline: $(cat /proc/cmdline)"
echo "cgroup.controllers: $(cat $CG/cgroup.controllers)"

# --- pure v2 -------------------------------------------------------------
check "cgroup2 mounted at $CG" grep -q "^cgroup2 $CG cgroup2 " /proc/mounts
check "no cgroup v1 hierarchy mounted" sh -c '! grep -q " cgroup " /proc/mounts'
check "memory controller available" grep -qw memory $CG/cgroup.controllers
check "pids controller available" grep -qw pids $CG/cgroup.controllers
check "user memsafe-worker is uid 990" test "$(id -u memsafe-worker 2>/dev/null)" = 990
check "group memsafe resolves" grep -q '^memsafe:' /etc/group

# --- delegation layout: service/supervisor + service/jobs/job-1 ----------
mkdir -p "$SVC"
echo "+memory +pids" >$CG/cgroup.subtree_control
echo $$ >"$SVC/cgroup.procs"
check "moved into service cgroup" grep -q "^0::/memsafe-selfcheck.service\$" /proc/self/cgroup
# The no-internal-processes rule: refused while we sit in $SVC ...
if (echo "+memory +pids" >"$SVC/cgroup.subtree_control") 2>/dev/null; then
	fail "enabling controllers in a cgroup with processes is refused (EBUSY)"
	echo "-memory -pids" >"$SVC/cgroup.subtree_control" 2>/dev/null
else
	pass "enabling controllers in a cgroup with processes is refused (EBUSY)"
fi
# ... and accepted once we are in the leaf supervisor/.
mkdir "$SVC/supervisor"
echo $$ >"$SVC/supervisor/cgroup.procs"
check "moved into leaf supervisor/" grep -q "^0::/memsafe-selfcheck.service/supervisor\$" /proc/self/cgroup
check "+memory +pids enabled in service subtree_control" \
	sh -c "echo '+memory +pids' >'$SVC/cgroup.subtree_control'"
mkdir "$SVC/jobs"
check "+memory +pids enabled in jobs/ subtree_control" \
	sh -c "echo '+memory +pids' >'$SVC/jobs/cgroup.subtree_control'"
mkdir "$JOB"
check "job cgroup has memory and pids" sh -c "grep -qw memory '$JOB/cgroup.controllers' && grep -qw pids '$JOB/cgroup.controllers'"
check "memory.max=32M" sh -c "echo 32M >'$JOB/memory.max'"
check "memory.swap.max=0" sh -c "echo 0 >'$JOB/memory.swap.max'"
check "memory.oom.group=1" sh -c "echo 1 >'$JOB/memory.oom.group'"
check "pids.max=64" sh -c "echo 64 >'$JOB/pids.max'"
check "memory.max reads back 33554432" test "$(cat "$JOB/memory.max")" = 33554432
for f in memory.peak cgroup.kill cgroup.freeze memory.events.local; do
	if [ -e "$JOB/$f" ]; then echo "info: $f present"; else echo "info: $f absent"; fi
done

# --- OOM kill ------------------------------------------------------------
# tail keeps everything since the last newline; /dev/zero has none, so it
# holds all 100 MB. The wrapper joins the job cgroup first, then execs.
t0=$(date +%s)
sh -c 'echo $$ >"$1/cgroup.procs" && exec sh -c "head -c 104857600 /dev/zero | tail >/dev/null"' sh "$JOB"
st=$?
echo "info: allocation exited with status $st after $(($(date +%s) - t0))s"
echo "info: memory.events: $(tr '\n' ' ' <"$JOB/memory.events")"
[ -e "$JOB/memory.peak" ] && echo "info: memory.peak: $(cat "$JOB/memory.peak")"
check "allocation killed by SIGKILL (status 137)" test "$st" -eq 137
check "memory.events oom_kill >= 1" test "$(value "$JOB/memory.events" oom_kill)" -ge 1
check "memory.events oom >= 1" test "$(value "$JOB/memory.events" oom)" -ge 1
if grep -q '^oom_group_kill ' "$JOB/memory.events"; then
	check "memory.events oom_group_kill >= 1" test "$(value "$JOB/memory.events" oom_group_kill)" -ge 1
fi
if [ -e "$JOB/memory.peak" ]; then
	check "memory.peak <= memory.max" test "$(cat "$JOB/memory.peak")" -le 33554432
fi
check "job cgroup empty after the kill" grep -q '^populated 0$' "$JOB/cgroup.events"
check "OOM kill logged in the kernel log" sh -c 'dmesg | grep -q "Memory cgroup out of memory: Killed process"'

# --- PSI -----------------------------------------------------------------
check "/proc/pressure/memory readable" grep -q '^some avg10=' /proc/pressure/memory
check "job memory.pressure readable" grep -q '^full avg10=' "$JOB/memory.pressure"
# A trigger lives as long as the fd that wrote it: keep fd 3 open.
if exec 3>"$JOB/memory.pressure" && echo "some 150000 1000000" >&3; then
	pass "PSI trigger 'some 150000 1000000' accepted by job memory.pressure"
else
	fail "PSI trigger 'some 150000 1000000' accepted by job memory.pressure"
fi
if exec 4>/proc/pressure/memory && echo "some 150000 1000000" >&4; then
	pass "PSI trigger accepted by /proc/pressure/memory"
else
	fail "PSI trigger accepted by /proc/pressure/memory"
fi
exec 3>&- 4>&-

# --- cleanup -------------------------------------------------------------
check "job cgroup removed" rmdir "$JOB"
check "job cgroup gone" test ! -e "$JOB"
echo $$ >$CG/cgroup.procs
rmdir "$SVC/jobs" "$SVC/supervisor" "$SVC"
check "service cgroup tree removed" test ! -e "$SVC"

echo "selfcheck: $((checks - failures))/$checks checks passed"
[ "$failures" -eq 0 ]
