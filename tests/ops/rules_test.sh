#!/usr/bin/env bash
# The alert rules: promtool's syntax and lint check, the promtool unit tests
# (alerts/tcpq.rules.test.yml: pending before `for`, firing with exact labels
# and annotations, resolved, silent on normal series), and the project rules
# in tests/ops/check_rules.py (naming, severity, annotations, runbook anchors,
# every alert tested firing and not firing).
#
# Run from anywhere; exit 0 pass, 1 fail, 77 nothing could run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/ops/checks.sh

name="promtool check rules (lint fatal)"
check_needs "$name" promtool:prometheus &&
  check_run "$name" promtool check rules --lint=all --lint-fatal alerts/tcpq.rules.yml
# test rules resolves rule_files relative to the test file.
name="promtool test rules alerts/tcpq.rules.test.yml"
check_needs "$name" promtool:prometheus &&
  check_run "$name" promtool test rules alerts/tcpq.rules.test.yml
name="tests/ops/check_rules.py"
check_needs "$name" python3:python3 && check_run "$name" python3 tests/ops/check_rules.py

checks_exit
