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
# shellcheck source=tests/ops/npm_packages.sh
. tests/ops/npm_packages.sh

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
