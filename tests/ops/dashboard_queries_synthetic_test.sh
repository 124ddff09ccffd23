#!/usr/bin/env bash
# Every dashboard query, variables filled in, against a real Prometheus that
# holds synthetic tcpq_exporter series (tests/ops/synthetic_metrics.py,
# backfilled with promtool): proves each query is valid PromQL, filters on
# labels the spec's metrics carry, and draws something. It does NOT prove the
# real exporter exposes those series: dashboard_queries.py against a
# Prometheus scraping the real exporter under load does that.
#
# Prometheus listens on 127.0.0.1 only, on a free port, and is stopped on exit.
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/ops/checks.sh

name="every dashboard query against synthetic series"
check_needs "$name" prometheus:prometheus promtool:prometheus python3:python3 || checks_exit

tmp=$(mktemp -d)
prom_pid=
cleanup() {
  if [ -n "$prom_pid" ]; then kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

end=$(( $(date +%s) - 30 ))
python3 tests/ops/synthetic_metrics.py "$end" 30 >"$tmp/data.om" || { check_fail "$name" "synthetic_metrics.py failed"; checks_exit; }
if ! out=$(nice promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/tsdb" 2>&1); then
  echo "$out"; check_fail "$name" "promtool backfill failed"; checks_exit
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'global:\n  evaluation_interval: 1m\nscrape_configs: []\n' >"$tmp/prometheus.yml"
nice prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!

ready=
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=1)" 2>/dev/null; then
    ready=1; break
  fi
  kill -0 "$prom_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  tail -20 "$tmp/prometheus.log"
  check_fail "$name" "Prometheus did not become ready"
  checks_exit
fi

queries() {
  python3 tests/ops/dashboard_queries.py --url "http://127.0.0.1:$port" --job tcpq \
    --instance 'node-a:9715' --time "$end" --require-activity "$@"
}
# Every namespace and pod ("All": the host's namespace has no pod labels);
# the pod shop/cart-0 picked; the hostNetwork pod edge/ingress-abcde picked
# on the listeners dashboard (its listeners are in the host's namespace, so
# only tcpq_listener_info names it).
for picked in "" "--var namespace=shop --var pod=cart-0" \
    "--var namespace=edge --var pod=ingress-abcde dashboards/tcpq-listeners.json"; do
  # shellcheck disable=SC2086  # the words of $picked are separate arguments
  if queries $picked; then
    check_pass "$name${picked:+ ($picked)}"
  else
    check_fail "$name${picked:+ ($picked)}" "dashboard_queries.py found problems (above)"
  fi
done
checks_exit
