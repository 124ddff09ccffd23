#!/usr/bin/env bash
# Configures and builds one tree, warnings as errors (developers and CI; a
# plain cmake build leaves TCPQ_WERROR off):
#   scripts/build.sh BUILD_DIR [cmake args...] [-- targets...]
# Without targets it builds everything. The cmake args come last, so they can
# override the defaults here (e.g. -DCMAKE_BUILD_TYPE=RelWithDebInfo for
# debug info).
# Release by default: what packagers build, so scripts/test.sh, scripts/run.sh
# and the benchmarks share one `build` tree and test and measure the -O3 code
# users get. gcc warns at -O3 where it does not at -O2 (inlining), so -Werror
# must see that build.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
cmake_args=() targets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    targets=("$@")
    break
  fi
  cmake_args+=("$1")
  shift
done
# CivetWeb as scripts/install-deps.sh builds it (scripts/build-civetweb.sh),
# named directly so that a build tree configured before keeps no other.
civetweb=$PWD/build-deps/civetweb
if [ ! -f "$civetweb/.stamp" ]; then
  echo "build.sh: no CivetWeb in build-deps/civetweb: run scripts/install-deps.sh" >&2
  exit 1
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTCPQ_WERROR=ON -Dcivetweb_DIR="$civetweb/lib/cmake/civetweb" \
  "${cmake_args[@]}" > "$dir.cmake.log" 2>&1 ||
  { cat "$dir.cmake.log"; exit 1; }
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
else
  cmake --build "$dir" -j "$(nproc)"
fi
