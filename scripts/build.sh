#!/bin/bash
# Configure and build memsafed out of tree in _build/ (reused when present).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] || autoreconf -fi
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
	--runstatedir=/run ${MEMSAFE_CONFIGURE_FLAGS:-}
make -j"$(nproc)"
