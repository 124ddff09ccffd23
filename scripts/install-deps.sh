#!/usr/bin/env bash
# Installs every Debian 12 package tcpq_exporter needs to build, run, test
# and benchmark: every tool any test uses is here, so that CI (CI=true, where
# a skipped check fails) never lacks one. Idempotent; needs root (or sudo).
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config clang llvm clang-format libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  prometheus-cpp-dev libcivetweb-dev libabsl-dev libre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # --web.config.file: YAML parser, OpenSSL (TLS under civetweb), libxcrypt (bcrypt)
  libyaml-cpp-dev libssl-dev libcrypt-dev
  # tests: real kernel tools and real Prometheus tooling
  python3 iproute2 nftables curl openssl prometheus prometheus-alertmanager
  libcap2-bin wrk
  # tests/ops/deploy_files_test.sh: systemd-analyze, ldd, dpkg -S, apt-cache
  systemd libc-bin dpkg apt
  # bench/scrape_bench.py: the node_exporter to compare with
  prometheus-node-exporter
)
# Packages whose service the install enables; none may keep running (the
# tests and benchmarks start their own, on ports of their choosing).
services=(prometheus prometheus-alertmanager prometheus-node-exporter)
# Node.js runs the manifest schema validator; the machine image may ship its
# own build (which bundles npm and conflicts with Debian's npm package).
if ! command -v npm > /dev/null; then packages+=(nodejs npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# deploy_files_test looks the Dockerfile's packages up in the apt lists.
if ! apt-cache show libc6 > /dev/null 2>&1; then
  echo "install-deps: no apt package lists, updating them"
  "${sudo_cmd[@]}" apt-get update -qq
  lists_updated=1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
[ -n "${lists_updated:-}" ] || "${sudo_cmd[@]}" apt-get update -qq
# The Debian prometheus packages try to start their services on install;
# policy-rc.d keeps them from doing so (the tests start their own).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d > /dev/null
  "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" > /dev/null
# policy-rc.d kept the services from starting now, but they stay enabled for
# the next boot, where node_exporter would take port 9100 that
# bench/scrape_bench.py uses. Disable and stop (if one runs anyway) only the
# services of packages installed just now: an existing setup is left alone.
for service in "${services[@]}"; do
  printf '%s\n' "${missing[@]}" | grep -qx "$service" || continue
  if [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now "$service.service" > /dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$service" ]; then  # no systemd (a container)
    "${sudo_cmd[@]}" "/etc/init.d/$service" stop > /dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
