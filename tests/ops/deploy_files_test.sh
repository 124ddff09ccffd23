#!/usr/bin/env bash
# Static checks of the non-Kubernetes deploy files, each part run when its
# tool is there:
#  - deploy/systemd/tcpq_exporter.service passes `systemd-analyze verify`;
#  - every flag that the DaemonSet, the systemd unit and the Dockerfile pass
#    is one the exporter has (its --help when the binary exists, else the
#    ABSL_FLAG definitions in the sources).
# The binary is $TCPQ_EXPORTER (CTest sets it), else build/tcpq_exporter.
# The image itself (its packages, the libraries the binary links) is built
# and checked by the container.* tests (tests/integration/test_image.py,
# test_daemonset_pod.py).
#
# Run from anywhere; exit 0 pass, 1 fail, 77 nothing could be checked.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/ops/checks.sh

unit=deploy/systemd/tcpq_exporter.service
dockerfile=deploy/Dockerfile
daemonset=deploy/kubernetes/daemonset.yaml
binary=${TCPQ_EXPORTER:-build/tcpq_exporter}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- systemd unit -------------------------------------------------------------
name="systemd-analyze verify $unit"
if check_needs "$name" systemd-analyze:systemd; then
  # verify insists that ExecStart's binary exists: point it at a real one.
  exe=/bin/true
  [ -x "$binary" ] && exe=$(realpath "$binary")
  sed "s|/usr/local/bin/tcpq_exporter|$exe|" "$unit" >"$tmp/tcpq_exporter.service"
  out=$(cd "$tmp" && systemd-analyze verify ./tcpq_exporter.service 2>&1 | grep -i 'tcpq_exporter' || true)
  if [ -n "$out" ]; then echo "$out"; check_fail "$name" "systemd-analyze reported problems (above)"; else check_pass "$name"; fi
fi

# --- flags -------------------------------------------------------------------
{
  grep -E '^ExecStart=' "$unit" | grep -oE -- '--[a-z][a-z0-9.-]*'
  sed -n '/^ *args:/,/^ *[a-z]*:$/p' "$daemonset" | grep -oE -- '--[a-z][a-z0-9.-]*'
  grep -E '^(CMD|ENTRYPOINT)' "$dockerfile" | grep -oE -- '--[a-z][a-z0-9.-]*'
} | sort -u >"$tmp/flags"
echo "deploy flags: $(tr '\n' ' ' <"$tmp/flags")"
# Against the binary's --help when there is one, else the sources' ABSL_FLAGs.
unknown=
if [ -x "$binary" ]; then
  name="every flag deploy/ passes is in the exporter's --help"
  help=$("$binary" --help 2>&1)
  while read -r f; do
    grep -qE -- "(^|[ /])$f( |$)" <<<"$help" || unknown+="$f "
  done <"$tmp/flags"
else
  name="every flag deploy/ passes has an ABSL_FLAG in exporter/"
  while read -r f; do
    flag=$(sed 's/^--//; s/[.-]/_/g' <<<"$f")
    grep -rqE "ABSL_FLAG\([^,]+, *$flag," exporter/ || unknown+="$f "
  done <"$tmp/flags"
fi
if [ -n "$unknown" ]; then check_fail "$name" "unknown: $unknown"; else check_pass "$name"; fi

checks_exit
