#!/usr/bin/env bash
# Configures and builds one tree: scripts/build.sh BUILD_DIR [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" > "$dir.cmake.log" 2>&1 ||
  { cat "$dir.cmake.log"; exit 1; }
cmake --build "$dir" -j "$(nproc)"
