#!/usr/bin/env bash
# Fails when deploy/kubernetes/prometheusrule.yaml is not exactly what
# deploy/gen-prometheusrule.py generates from alerts/tcpq.rules.yml, i.e. when
# someone edited one without regenerating the other. Then also checks that the
# embedded spec is still a valid rules file with the same rules (promtool).
#
# Fix a failure with:  deploy/gen-prometheusrule.py
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1

command -v python3 >/dev/null 2>&1 || { echo "SKIP prometheusrule_drift_test: python3 not found"; exit 77; }

if ! python3 deploy/gen-prometheusrule.py --check; then
  echo "FAIL prometheusrule_drift_test: deploy/kubernetes/prometheusrule.yaml differs from the generated output (diff above); run deploy/gen-prometheusrule.py"
  exit 1
fi

if command -v promtool >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Everything under `spec:`, de-indented by two spaces, is a rules file.
  sed -n '/^spec:$/,$p' deploy/kubernetes/prometheusrule.yaml | tail -n +2 | sed 's/^  //' >"$tmp/spec.rules.yml"
  src=$(promtool check rules alerts/tcpq.rules.yml 2>&1) || { echo "$src"; echo "FAIL prometheusrule_drift_test: alerts/tcpq.rules.yml is invalid"; exit 1; }
  gen=$(promtool check rules "$tmp/spec.rules.yml" 2>&1) || { echo "$gen"; echo "FAIL prometheusrule_drift_test: the PrometheusRule spec is not a valid rules file"; exit 1; }
  n_src=$(grep -o '[0-9]* rules found' <<<"$src")
  n_gen=$(grep -o '[0-9]* rules found' <<<"$gen")
  if [ "$n_src" != "$n_gen" ]; then
    echo "FAIL prometheusrule_drift_test: alerts/tcpq.rules.yml has $n_src, the PrometheusRule $n_gen"
    exit 1
  fi
else
  echo "prometheusrule_drift_test: promtool not found, skipped the promtool check of the embedded spec"
fi

echo "PASS prometheusrule_drift_test"
