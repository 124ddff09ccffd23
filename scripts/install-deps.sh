#!/usr/bin/env bash
# Installs every Debian 12 package tcpq_exporter needs to build, run, test
# and benchmark (every tool any test uses is here, so that CI, where a skipped
# check fails, never lacks one), then builds CivetWeb from Debian's source
# package (scripts/build-civetweb.sh). Idempotent; needs root (or sudo).
#   scripts/install-deps.sh          build, run and test (what CI needs)
#   scripts/install-deps.sh build    only what building the exporter needs:
#                                    deploy/Dockerfile's build stage runs this
set -euo pipefail
cd "$(dirname "$0")/.."

# Building tcpq_exporter (the image's build stage installs exactly these).
build_packages=(
  cmake g++ make pkg-config clang llvm
  libbpf-dev bpftool libelf-dev zlib1g-dev
  prometheus-cpp-dev libabsl-dev libre2-dev
  # CivetWeb, built from its Debian source package at libcivetweb-dev's
  # version (scripts/build-civetweb.sh): dpkg-source unpacks it
  libcivetweb-dev dpkg-dev
  # --web.config.file: YAML parser, OpenSSL (TLS under civetweb), libxcrypt (bcrypt)
  libyaml-cpp-dev libssl-dev libcrypt-dev
  # the image's build stage compiles through it (deploy/Dockerfile)
  ccache
)
# Developing and testing it on the host.
test_packages=(
  clang-format libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev
  # tests: real kernel tools and real Prometheus tooling
  python3 iproute2 nftables curl openssl prometheus prometheus-alertmanager
  libcap2-bin wrk
  # the image and the DaemonSet's pod (deploy/build-image.sh,
  # tests/integration/test_daemonset_pod.py): podman with runc and its pause
  # image, mmdebstrap for the Debian base image, a local registry to push to
  podman runc catatonit mmdebstrap docker-registry
  # tests/ops/deploy_files_test.sh: systemd-analyze, ldd, dpkg -S, apt-cache
  systemd libc-bin dpkg apt
  # bench/scrape_bench.py: the node_exporter to compare with
  prometheus-node-exporter
)
# Packages whose service the install enables; none may keep running (the
# tests and benchmarks start their own, on ports of their choosing).
services=(prometheus prometheus-alertmanager prometheus-node-exporter docker-registry)
# Debian 12's kubectl (1.20, kustomize v2) renders the manifests in the pod
# test. Where another package owns /usr/bin/kubectl (the CI machines ship
# Google's), the Debian package is unpacked beside it instead, where
# tests/integration/kube_pod.py looks.
kubectl_dir=/opt/kubernetes-client-debian12
kubectl_owner=$(dpkg-query -S /usr/bin/kubectl 2> /dev/null | cut -d: -f1 || true)

case "${1:-all}" in
  build) packages=("${build_packages[@]}") ;;
  all)
    packages=("${build_packages[@]}" "${test_packages[@]}")
    # Node.js runs the manifest schema validator; the machine image may ship
    # its own build (which bundles npm and conflicts with Debian's npm).
    if ! command -v npm > /dev/null; then packages+=(nodejs npm); fi
    if [ -z "$kubectl_owner" ]; then packages+=(kubernetes-client); fi
    ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

unpack_kubectl() {
  if [ "${1:-all}" = build ] || [ -z "$kubectl_owner" ] ||
    [ "$kubectl_owner" = kubernetes-client ] || [ -x "$kubectl_dir/usr/bin/kubectl" ]; then
    return 0
  fi
  echo "install-deps: unpacking Debian's kubernetes-client into $kubectl_dir" \
    "($kubectl_owner owns /usr/bin/kubectl)"
  local tmp
  tmp=$(mktemp -d)
  # Root downloads into its own temporary directory (not as user _apt).
  local download=(apt-get download -qq -o APT::Sandbox::User=root kubernetes-client)
  (cd "$tmp" && "${download[@]}") || {
    "${sudo_cmd[@]}" apt-get update -qq
    (cd "$tmp" && "${download[@]}")
  }
  "${sudo_cmd[@]}" dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$kubectl_dir"
  rm -rf "$tmp"
}

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
  unpack_kubectl "$@"
  exec scripts/build-civetweb.sh
fi
echo "install-deps: installing ${missing[*]}"
[ -n "${lists_updated:-}" ] || "${sudo_cmd[@]}" apt-get update -qq
# Debian's prometheus and docker-registry packages start their services on
# install; policy-rc.d keeps them from doing so (the tests start their own).
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
unpack_kubectl "$@"
echo "install-deps: done"
scripts/build-civetweb.sh
