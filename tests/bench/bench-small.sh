#!/bin/bash
# Benchmark (make bench): small jobs through a private memsafed, side by
# side with pdftotext in one run.
#
#  1. A 1-page PDF: the median wall time of BENCH_SEQ (20) sequential
#     `memsafectl submit --wait`, alternating with `pdftotext FILE -` on
#     the same file (target: at most 4x pdftotext).
#  2. A 1-line text file: the same (against the PDF's pdftotext time).
#  3. Where a small job's time goes, the median of each phase over the
#     text jobs, from the events memsafed pushes (millisecond stamps):
#     submit (memsafectl starting, connecting, the spool and its fsync,
#     job.json), queue, start (cgroup, spawn, the starting artifacts),
#     worker (exec, sandbox, extraction, the first batch and its sink
#     fsync), end (exit, reap, artifacts and job.json, written off the
#     loop) and notify (the end event to memsafectl's exit).
#  4. BENCH_TINY (200) tiny jobs submitted at once by 8 memsafectl
#     processes with max_concurrent = 4: jobs/s from the first submit to
#     the last end event (target: at least 200 jobs/s on 2 cores), in
#     BENCH_ROUNDS (7) rounds, and the daemon's RSS after each: it grows
#     with the ended jobs it keeps for status and list (JOBS_KEEP_ENDED,
#     1000) and is flat from there.
#
# Needs root (job cgroups) and /usr/bin/python3 (the event listener).
# Environment: MEMSAFED MEMSAFECTL MEMSAFE_WORKER MKPDF (set by make
# bench), PDFTOTEXT, BENCH_SEQ, BENCH_TINY, BENCH_DIR (default
# tests/bench/small.dir under the current directory).
# Exit: 0 when every job ended done (missed targets are reported, not
# failed: this is not a timed test), 1 otherwise, 77 when it cannot run.
set -u
export LC_ALL=C
: "${MEMSAFED:?run through make bench}" "${MEMSAFECTL:?}" "${MEMSAFE_WORKER:?}" "${MKPDF:?}"
PDFTOTEXT=${PDFTOTEXT:-pdftotext}
SEQ=${BENCH_SEQ:-20}
TINY=${BENCH_TINY:-200}
ROUNDS=${BENCH_ROUNDS:-7}
PY=/usr/bin/python3
DIR=${BENCH_DIR:-$PWD/tests/bench/small.dir}

skip() { echo "bench-small: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (job cgroups)"
[ -x "$PY" ] || skip "needs $PY"
command -v "$PDFTOTEXT" >/dev/null || skip "$PDFTOTEXT not found (poppler-utils)"

rm -rf "$DIR"
mkdir -p "$DIR/tiny"
SOCK=$DIR/memsafed.sock
cat >"$DIR/memsafed.conf" <<EOF
[daemon]
socket = $SOCK
state_dir = $DIR/state
worker_user = nobody
[limits]
max_concurrent = 4
# all of them queued at once (the default lets a user queue 64)
max_queued_per_user = 1000
[pressure]
policy = none
EOF
"$MEMSAFED" --config "$DIR/memsafed.conf" --worker "$MEMSAFE_WORKER" 2>"$DIR/daemon.log" &
DPID=$!
LPID=
trap 'kill $LPID 2>/dev/null; kill $DPID 2>/dev/null; wait $DPID 2>/dev/null' EXIT
for _ in $(seq 100); do
	"$MEMSAFECTL" --socket "$SOCK" status >/dev/null 2>&1 && break
	sleep 0.05
done
ctl() { "$MEMSAFECTL" --socket "$SOCK" "$@"; }
"$MKPDF" --pages 1 "$DIR/one.pdf" >/dev/null
echo "one line of text" >"$DIR/line.txt"
for i in $(seq "$TINY"); do echo "tiny job $i" >"$DIR/tiny/$i.txt"; done
failed=0
now_us() { echo $(( $(date +%s%N) / 1000 )); }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DPID/status"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'; }

# Every event, one line each: id event change t_ms (for the breakdown).
"$PY" - "$SOCK" >"$DIR/events.txt" <<'EOF' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "op": "watch", "all": True}).encode())
json.loads(s.recv(65536))
print("ready", flush=True)
while True:
    b = s.recv(65536)
    if not b:
        break
    m = json.loads(b)
    if m.get("event") == "lagged":
        print("lagged", m["dropped"], flush=True)
        continue
    print(m["id"], m["event"], m.get("change", "-"), m["t_ms"], m["job"]["state"], flush=True)
EOF
LPID=$!
for _ in $(seq 100); do grep -q ready "$DIR/events.txt" && break; sleep 0.05; done

# --- 1 and 2: sequential small jobs against pdftotext -------------------------------
: >"$DIR/clients.txt"
for kind in pdf text; do
	file=$DIR/one.pdf
	[ $kind = text ] && file=$DIR/line.txt
	for i in $(seq "$SEQ"); do
		t0=$(now_us)
		"$PDFTOTEXT" "$DIR/one.pdf" - >/dev/null || failed=1
		t1=$(now_us)
		out=$(ctl submit --wait "$file") || failed=1
		t2=$(now_us)
		echo "$(( t1 - t0 ))" >>"$DIR/pdftotext.$kind"
		echo "$(( t2 - t1 ))" >>"$DIR/memsafectl.$kind"
		id=$(sed -n 's/^job \([0-9]*\) queued.*/\1/p' <<<"$out" | head -n 1)
		echo "$kind $id $(( t1 / 1000 )) $(( t2 / 1000 ))" >>"$DIR/clients.txt"
	done
done
echo "small jobs, median of $SEQ sequential runs each (wall time, ms):"
p=$(median <"$DIR/pdftotext.pdf")
for kind in pdf text; do
	m=$(median <"$DIR/memsafectl.$kind")
	awk -v m="$m" -v p="$p" -v k="$kind" 'BEGIN {
		what = (k == "pdf") ? "memsafectl submit --wait PDF" : "memsafectl submit --wait text"
		printf "  %-30s %8.1f ms   pdftotext (1-page PDF) %6.1f ms   ratio %5.1fx  (target <= 4x)\n",
		       what, m / 1000, p / 1000, (p > 0) ? m / p : 0 }'
done

# --- 3: where the time goes (text jobs) ---------------------------------------------
sleep 0.3
"$PY" - "$DIR/clients.txt" "$DIR/events.txt" <<'EOF'
import sys, statistics
clients = [l.split() for l in open(sys.argv[1]) if l.startswith("text ")]
ev = {}
for l in open(sys.argv[2]):
    f = l.split()
    if len(f) != 5:
        continue
    ev.setdefault(f[0], []).append((f[1], f[2], int(f[3])))
phases = {k: [] for k in ("submit", "queue", "start", "worker", "end", "notify")}
for _, jid, t1, t2 in clients:
    e = ev.get(jid, [])
    def at(kind, change=None, last=False):
        ts = [t for k, c, t in e if k == kind and (change is None or c == change)]
        return (ts[-1] if last else ts[0]) if ts else None
    q, a, r = at("state", "queued"), at("state", "admitted"), at("state", "running")
    p, end = at("progress", last=True), at("end")
    if None in (q, a, r, end):
        continue
    p = p if p is not None else r
    for name, v in (("submit", q - int(t1)), ("queue", a - q), ("start", r - a),
                    ("worker", p - r), ("end", end - p), ("notify", int(t2) - end)):
        phases[name].append(v)
print("where a 1-line text job's time goes (median ms, event stamps have 1 ms resolution):")
print("  " + "  ".join("%s %.0f" % (k, statistics.median(v)) for k, v in phases.items() if v))
EOF

# --- 4: tiny jobs at once ------------------------------------------------------------
echo "$TINY tiny jobs submitted at once, max_concurrent = 4 ($(nproc) cores):"
for round in $(seq "$ROUNDS"); do
	start_ends=$(grep -c ' end ' "$DIR/events.txt")
	t0=$(now_us)
	ls "$DIR"/tiny/*.txt | xargs -n $(( (TINY + 7) / 8 )) -P 8 \
		"$MEMSAFECTL" --socket "$SOCK" submit >/dev/null || failed=1
	want=$(( start_ends + TINY ))
	for _ in $(seq 1200); do
		[ "$(grep -c ' end ' "$DIR/events.txt")" -ge "$want" ] && break
		sleep 0.05
	done
	last=$(grep ' end ' "$DIR/events.txt" | tail -n 1 | awk '{ print $4 }')
	done_n=$(grep ' end ' "$DIR/events.txt" | tail -n "$TINY" | grep -vc ' done$')
	[ "$done_n" -eq 0 ] || failed=1
	awk -v n="$TINY" -v k=$(( 2 * SEQ )) -v t0="$t0" -v t1="$last" -v rss="$(rss_kb)" -v r="$round" 'BEGIN {
		s = (t1 - t0 / 1000) / 1000
		printf "  round %d: %6.1f jobs/s (%.2f s)  (target >= 200)   daemon RSS %d kB, %d jobs kept\n",
		       r, (s > 0) ? n / s : 0, s, rss, (r * n + k > 1000) ? 1000 : r * n + k }'
done
lag=$(grep -c '^lagged' "$DIR/events.txt")
[ "$lag" -eq 0 ] || echo "  (the event listener lagged $lag times: the breakdown may miss jobs)"
if [ $failed -ne 0 ]; then
	echo "bench-small: a job did not end done; see $DIR/daemon.log" >&2
	exit 1
fi
exit 0
