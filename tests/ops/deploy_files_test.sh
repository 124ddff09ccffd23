#!/usr/bin/env bash
# Static checks of the non-Kubernetes deploy files, each part run when its
# tool is there:
#  - deploy/systemd/tcpq_exporter.service passes `systemd-analyze verify`;
#  - every package the Dockerfile installs exists in Debian 12's archive
#    (apt-cache, on a Debian 12 host);
#  - every flag that the DaemonSet, the systemd unit and the Dockerfile pass
#    is one the exporter has (its --help when build/tcpq_exporter exists,
#    else the ABSL_FLAG definitions in the sources);
#  - when build/tcpq_exporter exists, every shared library it links comes
#    from a package the Dockerfile's runtime stage installs (or the base
#    image), and every package that stage installs provides one of them;
#  - the image the DaemonSet names is the one the Dockerfile says it builds.
# Docker itself is not available here: the image is not built by this test.
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
if [ ! -s "$tmp/packages" ]; then
  fail "no apt-get install found in $dockerfile"
elif ! grep -q '^12' /etc/debian_version 2>/dev/null; then
  note "not a Debian 12 host: Dockerfile packages not looked up"
elif ! apt-cache show libc6 >/dev/null 2>&1; then
  note "apt lists missing (run apt-get update): Dockerfile packages not looked up"
else
  ran=1
  missing=$(cut -f2 "$tmp/packages" | sort -u | while read -r p; do apt-cache show "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then fail "Dockerfile installs packages Debian 12 does not have: $missing"; else ok "Dockerfile packages exist in Debian 12 ($(wc -l <"$tmp/packages"))"; fi
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

# --- runtime libraries --------------------------------------------------------
if [ -x "$binary" ] && command -v ldd >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  ran=1
  # In debian:12-slim already: the C and C++ runtimes.
  base="libc6 libgcc-s1 libstdc++6 zlib1g"
  runtime=$(awk -F'\t' '$1=="runtime"{print $2}' "$tmp/packages")
  linked=""
  while read -r lib; do
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null)
    pkg=${pkg%%:*}
    if [ -z "$pkg" ]; then fail "$binary links $lib, which no Debian package owns"; continue; fi
    linked="$linked $pkg"
    grep -qw -- "$pkg" <<<"$base $runtime" || fail "$binary links $lib from $pkg, which the Dockerfile runtime stage does not install"
  done < <(ldd "$binary" | awk '/=> \//{print $3}')
  # And nothing more: a package no linked library comes from (a -dev
  # package, a library linked statically) only grows the image.
  for pkg in $runtime; do
    grep -qw -- "$pkg" <<<"$linked" || fail "the Dockerfile runtime stage installs $pkg, but $binary links no library of it"
  done
  ok "runtime stage installs exactly the packages of the shared libraries of $binary"
else
  note "no $binary (or ldd/dpkg): runtime libraries not checked"
fi

# --- image name ----------------------------------------------------------------
ran=1
image=$(awk '/^ *image:/{print $2; exit}' "$daemonset")
if grep -qF -- "-t $image " "$dockerfile"; then ok "DaemonSet image $image is what $dockerfile builds"; else fail "DaemonSet image $image is not the tag in $dockerfile's build command"; fi

if [ "$ran" -eq 0 ]; then echo "SKIP deploy_files_test: nothing could be checked"; exit 77; fi
if [ "$status" -eq 0 ]; then echo "PASS deploy_files_test"; else echo "FAIL deploy_files_test"; fi
exit "$status"
