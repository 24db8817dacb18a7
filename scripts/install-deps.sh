#!/usr/bin/env bash
# Installs the Debian packages Sealtrail builds, tests and benchmarks with,
# only those that are missing, non-interactively. Why each one is needed is
# written in docs/DEPENDENCIES.md.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libsodium-dev
      golang-go golang-golang-x-mod-dev
      python3 time libjson-c-dev libjansson-dev
      libevent-dev libmicrohttpd-dev libh2o-evloop-dev libcurl4-openssl-dev
      prometheus postgresql libpq-dev libroaring-dev libsqlite3-dev liblmdb-dev libpcre2-dev zlib1g-dev
      libgnutls28-dev rsyslog bsdutils openssl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
