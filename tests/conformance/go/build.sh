#!/bin/bash
# build.sh OUTPUT - builds the stverify judge into OUTPUT, offline, in
# GOPATH mode against Debian's golang-golang-x-mod-dev sources in
# /usr/share/gocode. Exits non-zero if go (or the packages) are missing.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
if ! command -v go >/dev/null 2>&1; then
	echo "build.sh: go not found (apt-get install golang-go golang-golang-x-mod-dev)" >&2
	exit 1
fi
if [ ! -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ]; then
	echo "build.sh: golang.org/x/mod not in /usr/share/gocode (apt-get install golang-golang-x-mod-dev)" >&2
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
case $out in /*) ;; *) out=$PWD/$out ;; esac
tmp=${TMPDIR:-/tmp}
mkdir -p "$tmp/sealtrail-gopath" "$tmp/sealtrail-gocache"
cd "$here/stverify"
GO111MODULE=off GOPROXY=off GOFLAGS= \
	GOPATH=/usr/share/gocode:$tmp/sealtrail-gopath \
	GOCACHE=$tmp/sealtrail-gocache \
	go build -o "$out" .
