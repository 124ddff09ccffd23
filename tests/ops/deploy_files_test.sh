#!/usr/bin/env bash
# Static checks of the non-Kubernetes deploy files, each part run when its
# tool is there:
#  - deploy/systemd/tcpq_exporter.service passes `systemd-analyze verify`;
#  - every package the Dockerfile installs exists in Debian 12's archive
#    (apt-cache, on a Debian 12 host);
#  - every flag that the DaemonSet, the systemd unit and the Dockerfile pass
#    is one the exporter has (its --help when the binary exists, else the
#    ABSL_FLAG definitions in the sources);
#  - every shared library the binary links comes from a package the
#    Dockerfile's runtime stage installs (or the base image);
#  - the image the DaemonSet names is the one the Dockerfile says it builds.
# The binary is $TCPQ_EXPORTER (CTest sets it), else build/tcpq_exporter.
# Docker itself is not available here: the image is not built by this test.
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

# --- Dockerfile packages --------------------------------------------------------
# The apt-get install lines of each stage: "stage<TAB>package".
python3 - "$dockerfile" >"$tmp/packages" <<'PY'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stage = None
for line in text.splitlines():
    m = re.match(r"\s*FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
    if m:
        stage = m.group(1) or "runtime"
    for cmd in re.findall(r"apt-get install([^&;]*)", line):
        for word in cmd.split():
            if not word.startswith("-"):
                print(f"{stage}\t{word}")
PY
name="every package $dockerfile installs exists in Debian 12"
if [ ! -s "$tmp/packages" ]; then
  check_fail "$name" "no apt-get install found in $dockerfile"
elif ! grep -q '^12' /etc/debian_version 2>/dev/null; then
  check_skip "$name" "not a Debian 12 host (/etc/debian_version), so no Debian 12 package lists"
elif ! apt-cache show libc6 >/dev/null 2>&1; then
  check_skip "$name" "apt package lists missing (run apt-get update)"
else
  missing=$(cut -f2 "$tmp/packages" | sort -u | while read -r p; do apt-cache show "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    check_fail "$name" "Debian 12 does not have: $missing"
  else
    echo "$(wc -l <"$tmp/packages") packages"
    check_pass "$name"
  fi
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

# --- runtime libraries --------------------------------------------------------
name="the Dockerfile's runtime stage has every shared library of the exporter"
if [ ! -x "$binary" ]; then
  check_skip "$name" "no exporter binary at $binary (build it: scripts/build.sh build)"
elif check_needs "$name" ldd:libc-bin dpkg:dpkg; then
  # In debian:12-slim already: the C and C++ runtimes.
  base="libc6 libgcc-s1 libstdc++6 zlib1g"
  runtime=$(awk -F'\t' '$1=="runtime"{print $2}' "$tmp/packages")
  problems=
  while read -r lib; do
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null)
    pkg=${pkg%%:*}
    if [ -z "$pkg" ]; then problems+="$lib (no Debian package owns it); "; continue; fi
    grep -qw -- "$pkg" <<<"$base $runtime" || problems+="$lib (from $pkg, not installed); "
  done < <(ldd "$binary" | awk '/=> \//{print $3}')
  if [ -n "$problems" ]; then check_fail "$name" "$problems"; else check_pass "$name"; fi
fi

# --- image name ----------------------------------------------------------------
image=$(awk '/^ *image:/{print $2; exit}' "$daemonset")
name="the DaemonSet's image is what $dockerfile builds"
if grep -qF -- "-t $image " "$dockerfile"; then
  check_pass "$name"
else
  check_fail "$name" "DaemonSet image $image is not the tag in $dockerfile's build command"
fi

checks_exit
