#!/usr/bin/env bash
# Static checks of the non-Kubernetes deploy files, each part run when its
# tool is there:
#  - deploy/systemd/tcpq_exporter.service passes `systemd-analyze verify`;
#  - every flag that the DaemonSet, the systemd unit and the Dockerfile pass
#    is one the exporter has (its --help when build/tcpq_exporter exists,
#    else the ABSL_FLAG definitions in the sources).
# The image itself is built and checked by the container.* tests
# (tests/integration/test_image.py, test_daemonset_pod.py).
#
# Run from anywhere; exit 0 pass, 1 fail, 77 nothing could be checked.
set -u
cd "$(dirname "$0")/../.." || exit 1

status=0 ran=0
fail() { echo "FAIL $*"; status=1; }
ok() { echo "ok   $*"; }
note() { echo "skip $*"; }

unit=deploy/systemd/tcpq_exporter.service
dockerfile=deploy/Dockerfile
daemonset=deploy/kubernetes/daemonset.yaml
binary=build/tcpq_exporter
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- systemd unit -------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  ran=1
  # verify insists that ExecStart's binary exists: point it at a real one.
  exe=/bin/true
  [ -x "$binary" ] && exe=$(realpath "$binary")
  sed "s|/usr/local/bin/tcpq_exporter|$exe|" "$unit" >"$tmp/tcpq_exporter.service"
  out=$(cd "$tmp" && systemd-analyze verify ./tcpq_exporter.service 2>&1 | grep -i 'tcpq_exporter' || true)
  if [ -n "$out" ]; then echo "$out"; fail "systemd-analyze verify $unit"; else ok "systemd-analyze verify $unit"; fi
else
  note "systemd-analyze not found: unit not verified"
fi

# --- flags -------------------------------------------------------------------
{
  grep -E '^ExecStart=' "$unit" | grep -oE -- '--[a-z][a-z0-9.-]*'
  sed -n '/^ *args:/,/^ *[a-z]*:$/p' "$daemonset" | grep -oE -- '--[a-z][a-z0-9.-]*'
  grep -E '^(CMD|ENTRYPOINT)' "$dockerfile" | grep -oE -- '--[a-z][a-z0-9.-]*'
} | sort -u >"$tmp/flags"
if [ -x "$binary" ]; then
  ran=1
  help=$("$binary" --help 2>&1)
  while read -r f; do
    grep -qE -- "(^|[ /])$f( |$)" <<<"$help" || fail "flag $f (used in deploy/) is not in $binary --help"
  done <"$tmp/flags"
  ok "deploy flags checked against $binary --help: $(tr '\n' ' ' <"$tmp/flags")"
elif ls exporter/*.cc >/dev/null 2>&1; then
  ran=1
  while read -r f; do
    name=$(sed 's/^--//; s/[.-]/_/g' <<<"$f")
    grep -rqE "ABSL_FLAG\([^,]+, *$name," exporter/ || fail "flag $f (used in deploy/) has no ABSL_FLAG($name) in exporter/"
  done <"$tmp/flags"
  ok "deploy flags checked against exporter/ sources: $(tr '\n' ' ' <"$tmp/flags")"
else
  note "no exporter binary or sources: flags not checked"
fi

if [ "$ran" -eq 0 ]; then echo "SKIP deploy_files_test: nothing could be checked"; exit 77; fi
if [ "$status" -eq 0 ]; then echo "PASS deploy_files_test"; else echo "FAIL deploy_files_test"; fi
exit "$status"
