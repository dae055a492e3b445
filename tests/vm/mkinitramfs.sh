#!/bin/bash
# Build a gzip'd newc initramfs (busybox + given binaries and their libraries + /init + /scenario.sh) for the cgroup-v2 VM test.
#
# Usage: mkinitramfs.sh OUT.cpio.gz SCENARIO_SCRIPT [BINARY...]
#   BINARY      ELF files copied to the same absolute path inside the image,
#               together with every shared library ldd reports (and the loader).
# Env:
#   MEMSAFE_VM_FILES    space-separated absolute paths (files or directories)
#                       copied to the same paths inside the image, as data.
#   MEMSAFE_VM_BUSYBOX  busybox to use (default: busybox in PATH, preferably
#                       the static one from busybox-static).
# Exit status: 0 ok, 1 error, 77 a tool is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=mkinitramfs.sh

die() { echo "$prog: $*" >&2; exit 1; }
skip() { echo "$prog: SKIP: $*" >&2; exit 77; }

[ $# -ge 2 ] || { echo "usage: $prog OUT.cpio.gz SCENARIO_SCRIPT [BINARY...]" >&2; exit 2; }
out=$1 scenario=$2
shift 2

[ -f "$scenario" ] || die "scenario script not found: $scenario"
[ -f "$here/init.sh" ] || die "missing $here/init.sh"
command -v cpio >/dev/null || skip "cpio not found (apt-get install cpio)"
command -v gzip >/dev/null || skip "gzip not found"
busybox=${MEMSAFE_VM_BUSYBOX:-}
if [ -z "$busybox" ]; then
	for b in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
		[ -n "$b" ] && [ -x "$b" ] && { busybox=$b; break; }
	done
fi
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
	skip "busybox not found (apt-get install busybox-static, or run scripts/install-vm-deps.sh)"
fi

stage=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/memsafe-initramfs.XXXXXX")")
trap 'rm -rf "$stage"' EXIT

# Merged-/usr layout like Debian 12, so /lib/... and /usr/lib/... both work.
mkdir -p "$stage"/usr/bin "$stage"/usr/sbin "$stage"/usr/lib "$stage"/usr/lib64 \
	"$stage"/dev "$stage"/proc "$stage"/sys "$stage"/tmp "$stage"/run \
	"$stage"/etc "$stage"/root "$stage"/var
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib64 "$stage/lib64"
chmod 1777 "$stage/tmp"
# The kernel opens /dev/console for /init before devtmpfs is mounted; without
# the node /init starts with no stdio. Needs root; init.sh copes without it.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

# copy_to_image SRC [DEST]: copy a file to the same (or DEST) absolute path,
# following symlinks so the image holds the real content.
# Never write through a symlink: an absolute one inside the stage (e.g. from
# a MEMSAFE_VM_FILES directory, or an applet link to /bin/busybox) points at
# the HOST's file, so the resolved destination directory must stay inside
# the stage, and a link at the destination itself is replaced, not followed.
inside_stage() {
	case $(realpath -m "$stage$1") in "$stage"/*) return 0 ;; esac
	die "refusing to write $1: it resolves outside the image"
}
copy_to_image() {
	local src=$1 dst=${2:-$1}
	mkdir -p "$stage$(dirname "$dst")"
	inside_stage "$(dirname "$dst")"
	cp -L --preserve=mode --remove-destination "$src" "$stage$dst"
}

is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# copy_libs ELF: copy every shared library ldd lists, at the path ldd names
# (plus, for symlinked names, the resolved path too, harmless duplicates).
copy_libs() {
	local f=$1 line lib
	is_elf "$f" || return 0
	# ldd exits 1 for static binaries ("not a dynamic executable").
	local deps
	deps=$(ldd "$f" 2>&1) || return 0
	if printf '%s\n' "$deps" | grep -q 'not found'; then
		die "$f: missing libraries:
$(printf '%s\n' "$deps" | grep 'not found')"
	fi
	while IFS= read -r line; do
		case $line in
		*'=> /'*) lib=${line#*=> }; lib=${lib%% (*} ;;
		[[:space:]]/*) lib=${line#"${line%%/*}"}; lib=${lib%% (*} ;;
		*) continue ;;
		esac
		[ -e "$stage$lib" ] || copy_to_image "$lib"
	done <<EOF
$deps
EOF
}

# busybox; /init runs "busybox --install -s" at boot for the applet links
# (which never replaces the binaries copied below), so only /bin/sh is here.
copy_to_image "$busybox" /bin/busybox
copy_libs "$busybox"
ln -s busybox "$stage/bin/sh"

# the binaries under test
for bin in "$@"; do
	case $bin in /*) ;; *) bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin") ;; esac
	[ -f "$bin" ] || die "binary not found: $bin"
	if ! is_elf "$bin"; then
		if grep -q 'libtool' "$bin" 2>/dev/null; then
			die "$bin is a libtool wrapper script; pass the real ELF (.libs/...)"
		fi
	fi
	copy_to_image "$bin"
	copy_libs "$bin"
done

# extra data files / directories
for f in ${MEMSAFE_VM_FILES:-}; do
	case $f in /*) ;; *) die "MEMSAFE_VM_FILES entries must be absolute: $f" ;; esac
	[ -e "$f" ] || die "MEMSAFE_VM_FILES: not found: $f"
	if [ -d "$f" ]; then
		mkdir -p "$stage$(dirname "$f")"
		inside_stage "$f"
		cp -a "$f" "$stage$f"
	else
		copy_to_image "$f"
	fi
done

# /init and /scenario.sh
cp "$here/init.sh" "$stage/init"
cp "$scenario" "$stage/scenario.sh"
chmod 755 "$stage/init" "$stage/scenario.sh"

out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 | gzip -1) >"$out_abs.tmp"
mv "$out_abs.tmp" "$out_abs"
