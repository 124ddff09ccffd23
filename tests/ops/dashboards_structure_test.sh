#!/usr/bin/env bash
# Structure of the Grafana dashboards (dashboards/*.json): datasource/job/
# instance/netns variables, datasource variable on every panel and target,
# units and descriptions, $__rate_interval in every range, job/instance/netns
# filters on every selector, histograms as heatmaps, the panels the issue asks
# for, and every metric name present in SPEC.md's metric list. See
# tests/ops/check_dashboards.py for the full list.
#
# SPEC.md is looked for at ../shared/SPEC.md (CI's layout) and a few other
# places; set TCPQ_SPEC=/path/to/SPEC.md to point elsewhere.
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/ops/checks.sh

name="tests/ops/check_dashboards.py"
if check_needs "$name" python3:python3; then
  args=()
  [ -n "${TCPQ_SPEC:-}" ] && args+=(--spec "$TCPQ_SPEC")
  python3 tests/ops/check_dashboards.py "${args[@]}"
  case $? in
    0) check_pass "$name" ;;
    77) check_skip "$name" "SPEC.md not found (looked next to the repository; set TCPQ_SPEC=/path/to/SPEC.md)" ;;
    *) check_fail "$name" "dashboard problems (above)" ;;
  esac
fi

checks_exit
