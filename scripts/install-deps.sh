#!/bin/bash
# Install everything memsafed needs to build and to run its whole test
# suite on Debian 12 (as root): compilers, autotools, the five libraries,
# cairo and poppler-utils for test documents, and the VM test's qemu,
# busybox and kernel image. Idempotent; installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

pkgs=(build-essential autoconf automake pkg-config
      libevent-dev libyajl-dev libsystemd-dev libpoppler-glib-dev libseccomp-dev
      libglib2.0-dev libcairo2-dev poppler-utils systemd mandoc procps strace
      debhelper lintian fakeroot)   # the last three: debian/, dpkg-buildpackage
# The systemd VM test (tests/vm-systemd) builds its Debian root with mmdebstrap.
[ "${MEMSAFE_NO_VM:-0}" = 1 ] || pkgs+=(mmdebstrap)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "$(id -u)" -ne 0 ]; then
	[ ${#missing[@]} -eq 0 ] || { echo "install-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
	exit 0
fi
# The package lists may be missing or stale on a fresh machine; the VM
# kernel download needs them too.
if [ ${#missing[@]} -gt 0 ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
	apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${MEMSAFE_NO_VM:-0}" != 1 ]; then
	bash "$(dirname "$0")/install-vm-deps.sh"
fi
