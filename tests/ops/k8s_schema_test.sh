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

. tests/ops/checks.sh

name="deploy/kubernetes against the Kubernetes and prometheus-operator schemas"
skip() { check_skip "$name" "$1"; checks_exit; }
check_needs "$name" node:nodejs npm:npm || checks_exit
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || skip "node $node_major is too old (need >= 18; Debian 12's nodejs is 18)"

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
      check_fail "$name" "npm ci failed (above)"
      checks_exit
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
  check_fail "$name" "no manifests in deploy/kubernetes"
  checks_exit
fi

if node tests/ops/k8s_validate.mjs "${manifests[@]}"; then
  echo "${#manifests[@]} manifest file(s)"
  check_pass "$name"
else
  check_fail "$name" "k8s_validate.mjs found problems (above)"
fi
checks_exit
