#!/bin/bash
# Build everything (installing what is missing), then ingest a generated
# 200-page PDF with a private memsafed under a 512 MiB memory cap and
# print where the artifacts are. Run as root (cgroups need it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
MEMSAFE_NO_VM=1 bash "$top/scripts/install-deps.sh"
bash "$top/scripts/build.sh" >/dev/null
b="$top/_build"
make -C "$b" -s tests/mkpdf >/dev/null

demo="$top/memsafe-demo"
mkdir -p "$demo"
cat >"$demo/memsafed.conf" <<CONF
[daemon]
socket = $demo/memsafed.sock
state_dir = $demo/state
worker_user = nobody
CONF
"$b/tests/mkpdf" --pages 200 --words 400 "$demo/sample.pdf" >/dev/null
"$b/daemon/memsafed" --config "$demo/memsafed.conf" --worker "$b/worker/memsafe-worker" \
	2>"$demo/memsafed.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$demo/memsafed.sock" ] && break; sleep 0.05; done

echo "memsafed: $(grep -m1 'cgroup mode' "$demo/memsafed.log" | sed 's/^<[0-9]>//')"
"$b/ctl/memsafectl" --socket "$demo/memsafed.sock" submit "$demo/sample.pdf" \
	--memory-max 512M --wait
echo "daemon log: $demo/memsafed.log   chunks: $demo/state/kb/0/default/chunks.jsonl"
