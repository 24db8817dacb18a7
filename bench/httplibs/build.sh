#!/usr/bin/env bash
# Builds the HTTP library comparison servers (not part of the product):
#
#   bash bench/httplibs/build.sh OUTDIR
#
# Needs the Debian 12 packages libmicrohttpd-dev, libevent-dev and
# libh2o-evloop-dev (with pkg-config files libmicrohttpd, libevent,
# libevent_pthreads, libevent_openssl, libh2o-evloop).
set -euo pipefail
if [ $# -ne 1 ]; then
	echo "usage: bash bench/httplibs/build.sh OUTDIR" >&2
	exit 2
fi
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUT"
CC=${CC:-cc}
WARN="-Wall -Wextra -Wshadow -Wconversion -Wformat=2 -Wstrict-prototypes
  -Wmissing-prototypes -Wvla -Wno-sign-conversion -Werror"
# shellcheck disable=SC2086,SC2046 # word splitting of flags is intended
build() {
	local name=$1 pkgs=$2 extra=${3:-}
	$CC -std=c11 -D_GNU_SOURCE -O2 $WARN $extra $(pkg-config --cflags $pkgs) \
		-o "$OUT/$name" "$HERE/$name.c" $(pkg-config --libs $pkgs) -lpthread
}
build hello_mhd libmicrohttpd
build hello_evhttp "libevent libevent_pthreads libevent_openssl"
# h2o.h picks its event loop at compile time: the evloop flavour, not libuv.
build hello_h2o libh2o-evloop -DH2O_USE_LIBUV=0
