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

skip() { echo "SKIP dashboard_queries_synthetic_test: $*"; exit 77; }
for tool in prometheus promtool python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (Debian: apt-get install prometheus python3)"
done

tmp=$(mktemp -d)
prom_pid=
cleanup() {
  if [ -n "$prom_pid" ]; then kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

end=$(( $(date +%s) - 30 ))
python3 tests/ops/synthetic_metrics.py "$end" 30 >"$tmp/data.om" || { echo "FAIL: synthetic_metrics.py"; exit 1; }
if ! out=$(nice promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/tsdb" 2>&1); then
  echo "$out"; echo "FAIL dashboard_queries_synthetic_test: backfill failed"; exit 1
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
  echo "FAIL dashboard_queries_synthetic_test: Prometheus did not become ready"
  exit 1
fi

queries() {
  python3 tests/ops/dashboard_queries.py --url "http://127.0.0.1:$port" --job tcpq \
    --instance 'node-a:9715' --time "$end" --require-activity "$@"
}
status=0
# Every namespace and pod ("All": the host's namespace has no pod labels);
# the pod shop/cart-0 picked; the hostNetwork pod edge/ingress-abcde picked
# on the listeners dashboard (its listeners are in the host's namespace, so
# only tcpq_listener_info names it).
queries || status=1
queries --var namespace=shop --var pod=cart-0 || status=1
queries --var namespace=edge --var pod=ingress-abcde dashboards/tcpq-listeners.json || status=1
if [ "$status" -eq 0 ]; then
  echo "PASS dashboard_queries_synthetic_test"
  exit 0
fi
echo "FAIL dashboard_queries_synthetic_test"
exit 1
