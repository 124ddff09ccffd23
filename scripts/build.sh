#!/usr/bin/env bash
# Configures and builds one tree:
#   scripts/build.sh BUILD_DIR [cmake args...] [-- targets...]
# Without targets it builds everything.
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
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -Dcivetweb_DIR="$civetweb/lib/cmake/civetweb" \
  "${cmake_args[@]}" > "$dir.cmake.log" 2>&1 ||
  { cat "$dir.cmake.log"; exit 1; }
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
else
  cmake --build "$dir" -j "$(nproc)"
fi
