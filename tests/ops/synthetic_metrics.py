#!/usr/bin/env python3
"""Write OpenMetrics text with synthetic tcpq_exporter series, for backfilling a
throwaway Prometheus (promtool tsdb create-blocks-from openmetrics).

The series follow SPEC.md's names and labels: two network namespaces (the
host's, and a pod's), two listeners in each (in the host's: a systemd
service's and a hostNetwork pod's), counters that rise, gauges that move,
cumulative histograms. They
exist so that tests/ops/dashboard_queries_synthetic_test.sh can prove every
dashboard query parses and selects data before the real exporter exists; the
real proof is dashboard_queries.py against Prometheus scraping the exporter.

Usage: synthetic_metrics.py END_UNIX_SECONDS [MINUTES] > data.om
"""

import sys

END = int(sys.argv[1])
MINUTES = int(sys.argv[2]) if len(sys.argv) > 2 else 30
STEP = 15
TIMES = list(range(END - MINUTES * 60, END + 1, STEP))
BASE = {"job": "tcpq", "instance": "node-a:9715"}
NETNS = ["4026531840", "4026532301"]
# tcpq_netns_info's names of each namespace (empty labels are left out, as
# the exporter does), and tcpq_listener_info's owner of each listener.
NETNS_NAMES = [{}, {"name": "cni-5a1c0b7e", "pod_uid": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "container_id": "a1" * 32, "namespace": "shop", "pod": "cart-0"}]
SHOP = {"process": "java", "container": "server", "container_id": "b2" * 32,
        "pod": "cart-0", "namespace": "shop"}
OWNERS = [{"8080": {"process": "nginx", "unit": "nginx.service"},
           "443": {"process": "nginx", "container": "controller", "container_id": "c3" * 32,
                   "pod": "ingress-abcde", "namespace": "edge"}},
          {"8080": SHOP, "443": SHOP}]
STATES = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
          "close", "close_wait", "last_ack", "listen", "closing"]
BUCKETS = [2.0 ** e for e in range(-20, 13)]  # ~1 us .. ~1 h, powers of two

families = {}  # name -> list of (labels, fn(i) -> value)


def add(name, labels, fn):
    families.setdefault(name, []).append(({**BASE, **labels}, fn))


def counter(rate):
    return lambda i: rate * i * STEP


for n, ns in enumerate(NETNS, 1):
    L = {"netns": ns}
    add("tcpq_netns_info", {**L, **NETNS_NAMES[n - 1]}, lambda i: 1)
    for addr, port in (("0.0.0.0", "8080"), ("::", "443")):
        LL = {**L, "addr": addr, "port": port}
        add("tcpq_listener_info", {**LL, **OWNERS[n - 1][port]}, lambda i: 1)
        add("tcpq_listener_accept_queue_length", LL, lambda i, n=n: (i % 10) * n)
        add("tcpq_listener_accept_queue_limit", LL, lambda i: 128)
        add("tcpq_listener_sockets", LL, lambda i: 1)
        add("tcpq_listener_drops_total", LL, counter(0.5 * n))
        add("tcpq_listener_synack_retransmits_total", {**L, "port": port}, counter(0.2 * n))
        # The socket walk's view of the listener: two top peers (one IPv6),
        # the oldest queued connection.
        add("tcpq_listener_peers", LL, lambda i, n=n: 5 * n + i % 3)
        add("tcpq_listener_peer_connections_max", LL, lambda i, n=n: 40 * n + i % 7)
        for peer, share in (("10.0.0.7", 1.0), ("2001:db8::7", 0.5)):
            add("tcpq_listener_top_peer_connections", {**LL, "peer": peer},
                lambda i, n=n, share=share: int((40 * n + i % 7) * share))
        add("tcpq_listener_accept_queue_oldest_seconds", LL, lambda i, n=n: 0.5 * n + i % 10)
    for name, rate in (("listen_overflows", 0.5), ("listen_drops", 0.7), ("syncookies_sent", 0.1),
                       ("req_q_full_drop", 0.05), ("req_q_full_do_cookies", 0.1), ("syn_retrans", 0.3)):
        add(f"tcpq_netstat_{name}_total", L, counter(rate * n))
    add("tcpq_snmp_out_segs_total", L, counter(100 * n))
    add("tcpq_snmp_retrans_segs_total", L, counter(2 * n))
    add("tcpq_connect_attempts_total", L, counter(10 * n))
    add("tcpq_connect_failures_total", L, counter(0.5 * n))
    for d in ("active", "passive"):
        add("tcpq_connections_opened_total", {**L, "direction": d}, counter(5 * n))
    for d in ("sent", "received"):
        add("tcpq_resets_total", {**L, "direction": d}, counter(0.3 * n))
    for s in STATES:
        add("tcpq_sockets", {**L, "state": s}, lambda i, n=n: 10 * n + i % 5)
        add("tcpq_retransmits_total", {**L, "state": s}, counter(0.1 * n))
        if s not in ("time_wait", "close"):  # the states the walk can age
            add("tcpq_sockets_oldest_seconds", {**L, "state": s},
                lambda i, n=n: 60 * n + i * STEP)
    for name, v in (("net_core_somaxconn", 4096), ("net_ipv4_tcp_max_syn_backlog", 1024),
                    ("net_ipv4_tcp_syncookies", 1), ("net_ipv4_tcp_abort_on_overflow", 0),
                    ("net_ipv4_tcp_synack_retries", 5), ("net_ipv4_tcp_syn_retries", 6)):
        add(f"tcpq_sysctl_{name}", L, lambda i, v=v: v)


def histogram(name, labels, rate, centre):
    # Observations per second `rate`, spread over the buckets around `centre`.
    for le in BUCKETS:
        share = 0.0 if le < centre / 8 else min(1.0, le / (centre * 4))
        add(f"{name}_bucket", {**labels, "le": repr(le)}, counter(rate * share))
    add(f"{name}_bucket", {**labels, "le": "+Inf"}, counter(rate))
    add(f"{name}_count", labels, counter(rate))
    add(f"{name}_sum", labels, counter(rate * centre))


histogram("tcpq_connect_duration_seconds", {}, 10, 0.001)
for s in STATES:
    histogram("tcpq_state_duration_seconds", {"state": s}, 5, 0.01 if s != "established" else 30)

add("tcpq_exporter_build_info", {"version": "0.1.0", "revision": "synthetic"}, lambda i: 1)
for c in ("bpf", "netstat", "snmp", "sockdiag", "sysctl", "sockets"):
    add("tcpq_collector_success", {"collector": c}, lambda i: 1)
    add("tcpq_collector_duration_seconds", {"collector": c}, lambda i: 0.001)
for p in ("tcp_state", "tcp_retransmit", "tcp_synack", "tcp_reset"):
    add("tcpq_bpf_program_attached", {"program": p}, lambda i: 1)
add("tcpq_netns_scanned", {}, lambda i: len(NETNS))
# A walk every 15 s, ending 5 s before each scrape.
add("tcpq_socket_walk_duration_seconds", {}, lambda i: 0.05 + 0.001 * (i % 5))
add("tcpq_socket_walk_timestamp_seconds", {}, lambda i: TIMES[i] - 5)
add("tcpq_socket_walk_sockets", {}, lambda i: 1000 + i % 50)

out = sys.stdout
for name, series in families.items():
    for labels, fn in series:
        lbl = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for i, t in enumerate(TIMES):
            out.write(f"{name}{{{lbl}}} {fn(i)} {t}\n")
out.write("# EOF\n")
