#!/usr/bin/env bash
# Fails when deploy/kubernetes/prometheusrule.yaml is not exactly what
# deploy/gen-prometheusrule.py generates from alerts/tcpq.rules.yml, i.e. when
# someone edited one without regenerating the other. Then also checks that the
# embedded spec is still a valid rules file with the same rules (promtool).
#
# Fix a failure with:  deploy/gen-prometheusrule.py
# Run from anywhere; exit 0 pass, 1 fail, 77 nothing could run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/ops/checks.sh

name="prometheusrule.yaml is what deploy/gen-prometheusrule.py generates"
if check_needs "$name" python3:python3; then
  if python3 deploy/gen-prometheusrule.py --check; then
    check_pass "$name"
  else
    check_fail "$name" "deploy/kubernetes/prometheusrule.yaml differs from the generated output (diff above); run deploy/gen-prometheusrule.py"
  fi
fi

# Same rules as alerts/tcpq.rules.yml, and still a valid rules file.
embedded_spec_is_valid() {
  local tmp src gen
  tmp=$(mktemp -d)
  # Everything under `spec:`, de-indented by two spaces, is a rules file.
  sed -n '/^spec:$/,$p' deploy/kubernetes/prometheusrule.yaml | tail -n +2 | sed 's/^  //' >"$tmp/spec.rules.yml"
  src=$(promtool check rules alerts/tcpq.rules.yml 2>&1) || { echo "$src"; echo "alerts/tcpq.rules.yml is invalid"; rm -rf "$tmp"; return 1; }
  gen=$(promtool check rules "$tmp/spec.rules.yml" 2>&1) || { echo "$gen"; echo "the PrometheusRule spec is not a valid rules file"; rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  if [ "$(grep -o '[0-9]* rules found' <<<"$src")" != "$(grep -o '[0-9]* rules found' <<<"$gen")" ]; then
    echo "alerts/tcpq.rules.yml and the PrometheusRule have different numbers of rules"
    return 1
  fi
}
name="promtool check rules of the PrometheusRule's spec"
check_needs "$name" promtool:prometheus && check_run "$name" embedded_spec_is_valid

checks_exit
