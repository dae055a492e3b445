#!/bin/bash
# The systemd VM test's scenario (tests/vm-systemd/systemd-vm.test): runs
# as root in a Debian 12 VM booted with systemd as PID 1 and a pure cgroup
# v2 hierarchy, from the test's read-only data disk at /mnt/test holding
# memsafed.deb, jsonq and the documents. Installs the package and drives
# the service as its users will; TAP on stdout.
set -u
D=/mnt/test
JQ=$D/jsonq
STATE=/var/lib/memsafed
CG=/sys/fs/cgroup/system.slice/memsafed.service
T_N=0 T_FAILED=0
ok() {
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAILED=$((T_FAILED + 1)); fi
	[ "$1" -eq 0 ]
}
is() { if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; return 1; fi; }
# wait_until SECONDS CMD...: true as soon as CMD is, false after SECONDS
# (of wall time: under TCG a journalctl alone can take seconds).
wait_until() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done; }
t0=$SECONDS
step() { echo "# [$((SECONDS - t0)) s] $*"; }
jq_() { "$JQ" "$@"; }
sumq() { jq_ "$STATE/jobs/$1/summary.json" "$2"; }
state_of() { memsafectl --json status "$1" 2>/dev/null | jq_ - job.state 2>/dev/null; }
# wait_end ID SECONDS: until job ID has ended; prints its state.
wait_end() {
	local st
	for _ in $(seq $(($2 * 5))); do
		st=$(state_of "$1")
		case "$st" in queued|running|"") sleep 0.2 ;; *) break ;; esac
	done
	echo "$st"
}
prop() { systemctl show -p "$2" --value "$1"; }
journal() { journalctl --sync 2>/dev/null; journalctl -u memsafed --no-pager "$@"; }
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
ids_of() {   # ids_of USER: the job ids USER's list shows, "1 2 "
	local doc n i
	doc=$(as "$1" memsafectl --json list) || { echo "ERROR: list failed"; return; }
	n=$(jq_ - "jobs#" <<<"$doc")
	for ((i = 0; i < n; i++)); do jq_ - "jobs.$i.id" <<<"$doc"; done | sort -n | tr '\n' ' '
}
# running_with_batches ID: job ID runs and has flushed at least 2 batches.
running_with_batches() {
	local doc
	doc=$(memsafectl --json status "$1" 2>/dev/null) || return 1
	[ "$(jq_ - job.state <<<"$doc")" = running ] && [ "$(jq_ - job.batches_flushed <<<"$doc")" -ge 2 ]
}
# pages_in_kb ID PAGES: how many distinct pages of job ID reached the jsonl
# sink (its submitter's kb/<uid>/default/chunks.jsonl).
pages_in_kb() {
	local uid
	uid=$(memsafectl --json status "$1" 2>/dev/null | jq_ - job.uid)
	grep "^{\"job\":$1," "$STATE/kb/${uid:-0}/default/chunks.jsonl" |
		sed -n "s/.*\"text\":\"Page \([0-9]*\) of $2.*/\1/p" | sort -un | wc -l
}
job_ends() {   # job_ends ID: job-end records of job ID in the journal
	journal MESSAGE_ID=4a1e1f3b9d2c4c51a0e7c6b2d8f90102 MEMSAFE_JOB="$1" -o cat | grep -c .
}
LONG_PAGES=$(cat "$D/long.pages")

echo "# kernel $(uname -r), systemd $(systemctl --version | sed -n 1p), PID 1 is $(cat /proc/1/comm)"
is "$(cat /proc/1/comm)" systemd "systemd is PID 1"
is "$(stat -fc %T /sys/fs/cgroup)" cgroup2fs "/sys/fs/cgroup is cgroup v2"
grep -q " cgroup " /proc/mounts
is $? 1 "no cgroup v1 hierarchy is mounted (pure cgroup v2)"

# --- install --------------------------------------------------------------
step "installing the package"
dpkg -i "$D/memsafed.deb" >/tmp/dpkg.log 2>&1
ok $? "dpkg -i memsafed.deb succeeds" || sed 's/^/#   /' /tmp/dpkg.log
for g in memsafe memsafe-admin memsafe-worker; do
	getent group $g >/dev/null
	ok $? "install created the group $g (sysusers.d)"
done
w=$(getent passwd memsafe-worker | cut -d: -f3)
[ -n "$w" ] && [ "$w" != 0 ]
ok $? "install created the user memsafe-worker, not root (uid $w)"
is "$(stat -c %a $STATE) $(stat -c %a $STATE/spool 2>/dev/null)" "755 700" \
	"install created $STATE (0755) and its spool (0700) (tmpfiles.d)"
is "$(systemctl is-enabled memsafed.socket)" enabled "memsafed.socket is enabled"
is "$(systemctl is-active memsafed.socket)" active "memsafed.socket is listening"
is "$(systemctl is-active memsafed.service)" inactive "memsafed.service is not started by the install"
is "$(stat -c '%G %a' /run/memsafed/memsafed.sock)" "memsafe 660" "the socket belongs to the group memsafe, mode 0660"

useradd -m -G memsafe alice && useradd -m -G memsafe bob &&
	useradd -m -G memsafe,memsafe-admin carol && useradd -m eve
ok $? "users: alice and bob in memsafe, carol in memsafe and memsafe-admin, eve in neither"

# --- socket activation, users ---------------------------------------------
step "socket activation and users"
aid=$(as alice memsafectl --json submit --memory-max 256M --wait "$D/small.pdf" | jq_ - id)
is "$(systemctl is-active memsafed.service)" active "the first connection started memsafed.service"
journal | grep -q "ready on /run/memsafed/memsafed.sock (socket from systemd)"
ok $? "memsafed says it got its socket from systemd"
is "$(state_of "$aid")" done "alice's job $aid ends done"
bid=$(as bob memsafectl --json submit --memory-max 256M --wait "$D/small.pdf" | jq_ - id)
is "$(state_of "$bid")" done "bob's job $bid ends done"
is "$(ids_of alice)" "$aid " "alice (memsafe) sees only her own job"
is "$(ids_of bob)" "$bid " "bob (memsafe) sees only his own job"
as alice memsafectl status "$bid" >/dev/null 2>&1
is $? 4 "alice gets not_found for bob's job"
is "$(ids_of carol)" "$aid $bid " "carol (memsafe-admin) sees every job"
err=$(as eve memsafectl list 2>&1)
is $? 3 "eve (in neither group) is refused (exit 3)"
grep -q "join the memsafe group" <<<"$err"
ok $? "with a message naming the group: $err"
is "$(stat -c %U "$STATE/jobs/$aid/summary.json")" alice "alice's artifacts belong to alice" ||
	ls -la "$STATE/jobs" "$STATE/jobs/$aid" 2>&1 | sed 's/^/#   /'

# --- cgroups --------------------------------------------------------------
step "cgroups"
is "$(prop memsafed Delegate)" yes "memsafed.service has Delegate=yes"
memsafectl --json simulate-pressure --target-mb 16 --hold-ms 15000 --memory-max 64M \
	>/tmp/hold.json 2>&1 &
hold=$!
wait_until 60 eval 'ls -d $CG/jobs/job-* >/dev/null 2>&1'
ok $? "a running job's cgroup sits under memsafed.service: $(ls -d $CG/jobs/job-* 2>/dev/null)"
jcg=$(ls -d $CG/jobs/job-* 2>/dev/null | head -n 1)
is "$(cat "$jcg/memory.max" 2>/dev/null)" 67108864 "its memory.max is the job's 64M"
is "$(cat "$jcg/memory.oom.group" 2>/dev/null)" 1 "memory.oom.group = 1"
wpid=$(head -n 1 "$jcg/cgroup.procs" 2>/dev/null)
is "$(stat -c %U /proc/$wpid 2>/dev/null)" memsafe-worker "its worker runs as memsafe-worker"
is "$(cat /proc/$wpid/oom_score_adj 2>/dev/null)" 1000 \
	"the worker is the OOM killer's first choice (oom_score_adj 1000), not protected like memsafed (OOMScoreAdjust=-900)"
grep -qx "$(prop memsafed MainPID)" "$CG/supervisor/cgroup.procs"
ok $? "memsafed itself sits in $CG/supervisor"
grep -q memory "$CG/cgroup.subtree_control"
ok $? "memsafed enabled the memory controller for its subtree"
wait $hold
ok $? "the held pressure job ends and memory comes back"

# --- OOM ------------------------------------------------------------------
step "OOM"
pid_before=$(prop memsafed MainPID)
oid=$(memsafectl --json simulate-pressure --target-mb 300 --memory-max 64M 2>/dev/null | jq_ - id)
is "$(wait_end "$oid" 120)" oom_killed "a 300 MB pressure job under a 64M cap is OOM-killed (job $oid)"
is "$(sumq "$oid" end_reason)" oom_kill "its summary says oom_kill"
is "$(systemctl is-active memsafed.service)" active "the service stays up (OOMPolicy=continue)"
is "$(prop memsafed MainPID) $(prop memsafed NRestarts)" "$pid_before 0" "with the same main process, not restarted"

# --- journal --------------------------------------------------------------
step "journal"
line=$(journal | grep -E '\[MEMORY\] [^:]+: [0-9]+\.[0-9]{2} MB RSS' | head -n 1)
[ -n "$line" ]
ok $? "journalctl -u memsafed shows [MEMORY] ... MB RSS lines: ${line#*]: }"
journal -o verbose MEMSAFE_JOB="$aid" | grep -q "MEMSAFE_JOB=$aid"
ok $? "the journal carries MEMSAFE_JOB= fields (job $aid)"
journal -o verbose MEMSAFE_JOB="$oid" | grep -q "MEMSAFE_EVENT=oom_kill"
ok $? "the OOM kill of job $oid is in the journal (MEMSAFE_EVENT=oom_kill)"

# --- reload ----------------------------------------------------------------
step "reload"
printf '[job]\nmemory_max = 96M\n' >/etc/memsafed/memsafed.conf.d/50-test.conf
systemctl reload memsafed
ok $? "systemctl reload memsafed succeeds"
rid=$(memsafectl --json simulate-pressure --target-mb 2 --hold-ms 0 2>/dev/null | jq_ - id)
is "$(sumq "$rid" memory_max_mb)" 96.00 "the next job gets the reloaded memory_max (96M)"
printf '[daemon]\nworker_user = nosuchuser\n' >/etc/memsafed/memsafed.conf.d/60-bad.conf
systemctl reload memsafed
wait_until 20 eval 'journal | grep -q "reload failed, keeping the running configuration: the worker user nosuchuser does not exist"'
ok $? "a reload naming a missing worker user is refused, the old configuration stays"
rid=$(memsafectl --json simulate-pressure --target-mb 2 --hold-ms 0 2>/dev/null | jq_ - id)
is "$(wait_end "$rid" 60)" done "and jobs still run (job $rid)"
is "$(prop memsafed MainPID)" "$pid_before" "reloads keep the same main process"
rm /etc/memsafed/memsafed.conf.d/60-bad.conf /etc/memsafed/memsafed.conf.d/50-test.conf

# --- watchdog --------------------------------------------------------------
is "$(prop memsafed WatchdogUSec)" 30s "the watchdog is armed (WatchdogUSec=30s)"
journal | grep -q "watchdog: pinging every 15000 ms"
ok $? "memsafed pings it every 15 s"

# --- SIGKILL: restart and resume ------------------------------------------------
step "systemctl kill -s KILL"
kid=$(memsafectl --json submit --memory-max 256M --batch-size 4 "$D/long.pdf" | jq_ - id)
wait_until 120 running_with_batches "$kid"
ok $? "a long job ($LONG_PAGES pages) runs and has flushed batches"
systemctl kill -s KILL memsafed
wait_until 60 eval '[ "$(prop memsafed NRestarts)" = 1 ] && [ "$(systemctl is-active memsafed.service)" = active ]'
ok $? "systemctl kill -s KILL memsafed: systemd restarts it (NRestarts=1)"
is "$(wait_end "$kid" 300)" done "the interrupted job $kid resumes and ends done"
journal | grep -q "job $kid.*resumes at page\|resumes at page"
ok $? "it resumed after its last flushed page"
is "$(job_ends "$kid")" 1 "it ended once (one job-end record in the journal)"
is "$(pages_in_kb "$kid" "$LONG_PAGES")" "$LONG_PAGES" "every page reached the sink"

# --- a package upgrade while a job runs ---------------------------------------
step "upgrade while a job runs"
# A job that outlasts dpkg and the stop's grace period (10 s) for sure:
# the exec sink takes a second per batch.
printf '[sink.exec]\ncommand = sleep 1; cat >/dev/null\n' >/etc/memsafed/memsafed.conf.d/70-slow.conf
systemctl reload memsafed
uid_=$(memsafectl --json submit --memory-max 256M --batch-size 4 --sink exec "$D/long.pdf" | jq_ - id)
wait_until 120 running_with_batches "$uid_"
ok $? "a job flushing a batch a second (exec sink) runs"
pid_before=$(prop memsafed MainPID)
since=$(date +%s)
dpkg -i "$D/memsafed.deb" >/tmp/dpkg2.log 2>&1
ok $? "dpkg -i of the package again (the upgrade path) succeeds" || sed 's/^/#   /' /tmp/dpkg2.log
[ "$(prop memsafed MainPID)" != "$pid_before" ] && [ "$(systemctl is-active memsafed.service)" = active ]
ok $? "the upgrade restarted memsafed.service"
wait_until 30 eval 'journal --since "@$since" | grep -q "received SIGTERM, stopping: no new connections; 1 running job may end"'
ok $? "the job was running when the upgrade stopped memsafed" ||
	{ sed 's/^/#   dpkg: /' /tmp/dpkg2.log; journal --since "@$since" | grep -v MEMORY | tail -n 30 | sed 's/^/#   /'; }
st=$(wait_end "$uid_" 600)
is "$st" done "the job running during the upgrade is resumed and ends done"
is "$(job_ends "$uid_")" 1 "it ended once"
rm /etc/memsafed/memsafed.conf.d/70-slow.conf

# --- stop ---------------------------------------------------------------------
step "stop"
memsafectl simulate-pressure --target-mb 16 --hold-ms 60000 --memory-max 64M >/dev/null 2>&1 &
wait_until 60 eval 'ls -d $CG/jobs/job-* >/dev/null 2>&1'
ok $? "a job runs before the stop"
systemctl stop memsafed.service
ok $? "systemctl stop memsafed succeeds"
left=$(find /sys/fs/cgroup -name 'job-*' -type d 2>/dev/null; pgrep -f memsafe-worker)
is "$left" "" "no job cgroup or worker is left"
wait
is "$(systemctl is-active memsafed.socket)" active "the socket still listens"

# --- removal and purge -------------------------------------------------------
step "removal"
memsafectl list >/dev/null 2>&1
dpkg -r memsafed >/tmp/dpkg3.log 2>&1
ok $? "dpkg -r memsafed succeeds" || sed 's/^/#   /' /tmp/dpkg3.log
is "$(systemctl is-active memsafed.service) $(systemctl is-active memsafed.socket)" \
	"inactive inactive" "removal stops the service and the socket"
[ -f "$STATE/jobs/$aid/job.json" ] && [ -f "$STATE/jobs/$oid/summary.json" ]
ok $? "removal keeps $STATE (the jobs' records and artifacts)"
dpkg -P memsafed >/tmp/dpkg4.log 2>&1
ok $? "dpkg -P memsafed succeeds"
left=$(ls -d "$STATE" /etc/memsafed 2>/dev/null; find /etc/memsafed 2>/dev/null)
is "$left" "" "purge deletes $STATE and /etc/memsafed"
step "done"
echo "1..$T_N"
[ "$T_FAILED" -eq 0 ]
