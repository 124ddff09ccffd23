#!/usr/bin/env bash
# The alert rules: promtool's syntax and lint check, the promtool unit tests
# (alerts/tcpq.rules.test.yml: pending before `for`, firing with exact labels
# and annotations, resolved, silent on normal series), and the project rules
# in tests/ops/check_rules.py (naming, severity, annotations, runbook anchors,
# every alert tested firing and not firing).
#
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1

command -v promtool >/dev/null 2>&1 || { echo "SKIP rules_test: promtool not found (Debian: apt-get install prometheus)"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP rules_test: python3 not found"; exit 77; }

status=0
step() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "ok   $name"
  else
    echo "$out"
    echo "FAIL $name"
    status=1
  fi
}

step "promtool check rules (lint fatal)" promtool check rules --lint=all --lint-fatal alerts/tcpq.rules.yml
# test rules resolves rule_files relative to the test file.
step "promtool test rules alerts/tcpq.rules.test.yml" promtool test rules alerts/tcpq.rules.test.yml
step "tests/ops/check_rules.py" python3 tests/ops/check_rules.py

if [ "$status" -eq 0 ]; then echo "PASS rules_test"; else echo "FAIL rules_test"; fi
exit "$status"
