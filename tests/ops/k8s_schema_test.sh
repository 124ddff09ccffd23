#!/usr/bin/env bash
# Validates every manifest in deploy/kubernetes offline against the Kubernetes
# API schemas and the prometheus-operator CRD schemas (ServiceMonitor,
# PrometheusRule), rejects unknown fields, and checks that the objects fit
# together (tests/ops/k8s_validate.mjs says how).
#
# Schemas come from npm packages pinned in package.json / package-lock.json:
#   kubernetes-models                        Kubernetes OpenAPI, compiled validators + types
#   @kubernetes-models/prometheus-operator   prometheus-operator monitoring.coreos.com/v1
#   typescript                               strict (unknown field) check against those types
#   yaml                                     YAML parser that keeps comments
# They are installed with `npm ci` when node_modules is missing or stale.
#
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1

skip() { echo "SKIP k8s_schema_test: $*"; exit 77; }
command -v node >/dev/null 2>&1 || skip "node not found (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm not found (Debian: apt-get install npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || skip "node $node_major is too old (need >= 18)"

# npm ci writes node_modules/.package-lock.json: older than the lock file
# means someone changed the pins since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "k8s_schema_test: installing pinned npm packages (npm ci)"
  log=$(mktemp)
  # Network errors of the registry (npm's EIDLETIMEOUT included, and an
  # attempt that hangs): one retry, then the test cannot run. Two attempts of
  # at most 250 s stay inside CTest's 600 s. Anything else is a failure (a
  # lock file out of sync with package.json, a package gone).
  network='ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EIDLETIMEOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|network'
  for attempt in 1 2; do
    timeout 250 nice npm ci --no-audit --no-fund --loglevel=error \
      --fetch-timeout=60000 >"$log" 2>&1
    status=$?
    [ "$status" -eq 0 ] && break
    [ "$status" -eq 124 ] && echo "ETIMEDOUT: npm ci took over 250 s" >>"$log"
    grep -v 'Unknown user config' "$log" | tail -20
    if ! grep -Eq "$network" "$log"; then
      rm -f "$log"
      echo "FAIL k8s_schema_test: npm ci failed"
      exit 1
    fi
    if [ "$attempt" -eq 2 ]; then
      rm -f "$log"; skip "npm ci could not reach the npm registry (twice)"
    fi
    echo "k8s_schema_test: npm registry unreachable, retrying once"
  done
  rm -f "$log"
fi

shopt -s nullglob
manifests=(deploy/kubernetes/*.yaml deploy/kubernetes/*.yml)
if [ "${#manifests[@]}" -eq 0 ]; then
  echo "FAIL k8s_schema_test: no manifests in deploy/kubernetes"
  exit 1
fi

if node tests/ops/k8s_validate.mjs "${manifests[@]}"; then
  echo "PASS k8s_schema_test: ${#manifests[@]} manifest file(s)"
  exit 0
fi
echo "FAIL k8s_schema_test"
exit 1
