#!/usr/bin/env bash
# Installs every Debian 12 package tcpq_exporter needs to build, run and test,
# then builds CivetWeb from Debian's source package (scripts/build-civetweb.sh).
# Idempotent; needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  cmake g++ make pkg-config clang llvm clang-format libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  prometheus-cpp-dev libabsl-dev libre2-dev
  # CivetWeb, built from its Debian source package at libcivetweb-dev's
  # version (scripts/build-civetweb.sh): dpkg-source unpacks it
  libcivetweb-dev dpkg-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # --web.config.file: YAML parser, OpenSSL (TLS under civetweb), libxcrypt (bcrypt)
  libyaml-cpp-dev libssl-dev libcrypt-dev
  # tests: real kernel tools and real Prometheus tooling
  python3 iproute2 nftables curl openssl prometheus prometheus-alertmanager
  libcap2-bin wrk
)
# Node.js runs the manifest schema validator; the machine image may ship its
# own build (which bundles npm and conflicts with Debian's npm package).
if ! command -v npm > /dev/null; then packages+=(nodejs npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exec scripts/build-civetweb.sh
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
# The Debian prometheus packages try to start their services on install;
# policy-rc.d keeps them from doing so (the tests start their own).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d > /dev/null
  "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" > /dev/null
echo "install-deps: done"
scripts/build-civetweb.sh
