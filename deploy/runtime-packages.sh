#!/usr/bin/env bash
# Prints, one per line, the Debian packages that provide the shared libraries
# BINARY links (ldd, then the package owning each file):
#   deploy/runtime-packages.sh BINARY
# deploy/Dockerfile's runtime stage installs exactly these; the image test
# runs this inside the built image to check that stage against them.
set -euo pipefail
binary=$1
owner() {  # the package of a library path; merged /usr: try both spellings
  local lib=$1 real
  real=$(realpath "$lib")
  for path in "$lib" "$real" "/usr$lib" "${real#/usr}"; do
    dpkg-query -S "$path" 2> /dev/null && return
  done
  echo "runtime-packages: no package owns $lib (linked by $binary)" >&2
  return 1
}
libs=$(ldd "$binary")
if grep -q 'not found' <<< "$libs"; then
  echo "runtime-packages: $binary has unresolved libraries:" >&2
  grep 'not found' <<< "$libs" >&2
  exit 1
fi
awk '/=> \//{print $3}' <<< "$libs" | while read -r lib; do owner "$lib"; done |
  cut -d: -f1 | sort -u
