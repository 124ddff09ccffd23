#!/usr/bin/env python3
"""Scrape latency with many established connections: tcpq_exporter against
node_exporter (collectors netstat, tcpstat, sockstat), in one run.

Everything runs inside a throwaway network namespace so the host is left
alone: ~20 listeners, CONNECTIONS loopback connections held open by worker
processes (two established sockets each; the open-file limit is 20000 per
process, so they are spread over several), then both exporters are scraped
alternately. The tcpq scrape at 100 connections is measured first, in the
same run, as the reference for the "same cost at 100 or 100k" target.

Usage (root): python3 bench/scrape_bench.py [--connections 45000] [--scrapes 200]
    [--exporter build/tcpq_exporter] [--node-exporter /usr/bin/prometheus-node-exporter]
Standard library only.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from procs import start_workers, stop_all

NS = f"tcpq-bench-{os.getpid()}"
LISTENERS = 20
BASE_PORT = 20000


def ns_exec(*cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", NS, *cmd], **kw)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_kib(pid):
    # The exporter runs under `ip netns exec`, which execs it: same PID.
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def count_established():
    out = subprocess.run(["ip", "netns", "exec", NS, "ss", "-tanH", "state", "established"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=45000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--exporter", default="build/tcpq_exporter")
    parser.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace)")

    subprocess.run(["ip", "netns", "add", NS], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        tcpq = ns_exec(args.exporter, "--web.listen-address=127.0.0.1:9715", "--netns=host",
                       stderr=subprocess.DEVNULL)
        node = ns_exec(args.node_exporter, "--web.listen-address=127.0.0.1:9100",
                       "--collector.disable-defaults", "--collector.netstat",
                       "--collector.tcpstat", "--collector.sockstat",
                       stderr=subprocess.DEVNULL)
        procs += [tcpq, node]
        time.sleep(1.5)

        client = [sys.executable, "-c", CLIENT]

        def measure(urls, n):
            out = subprocess.run(["ip", "netns", "exec", NS, *client, str(n), *urls],
                                 capture_output=True, text=True, check=True).stdout
            return [list(map(float, line.split())) for line in out.strip().splitlines()]

        # Reference: ~100 connections (and the listeners).
        small = start_workers(NS, 100, BASE_PORT)
        procs += small
        listeners = start_workers(NS, LISTENERS - 1, BASE_PORT + 100)  # 1 connection each
        procs += listeners
        est_small = count_established()
        ref = [t[0] for t in measure(["http://127.0.0.1:9715/metrics"], args.scrapes)]

        big = start_workers(NS, args.connections, BASE_PORT + 200)
        procs += big
        est_big = count_established()
        # tcpq alone first: the alternation below puts node_exporter's long,
        # CPU-heavy scrapes (and its GC) right before each tcpq scrape.
        alone = [t[0] for t in measure(["http://127.0.0.1:9715/metrics"], args.scrapes)]
        pairs = measure(["http://127.0.0.1:9715/metrics",
                                "http://127.0.0.1:9100/metrics"], args.scrapes)
        tq = [p[0] for p in pairs]
        ne = [p[1] for p in pairs]
        rss = rss_kib(tcpq.pid)

        def row(name, values):
            return (f"{name:<44} median {statistics.median(values):8.2f} ms   "
                    f"p99 {percentile(values, 99):8.2f} ms")

        print(f"established sockets: {est_small} (reference), {est_big} (loaded); "
              f"{args.scrapes} scrapes each, alternating")
        print(row(f"tcpq_exporter, {est_small} established", ref))
        print(row(f"tcpq_exporter, {est_big} established, alone", alone))
        print(row(f"tcpq_exporter, {est_big} established", tq))
        print(row(f"node_exporter 1.5, {est_big} established", ne))
        print(f"tcpq loaded / tcpq reference (median): alone "
              f"{statistics.median(alone) / statistics.median(ref):.2f}x, alternating "
              f"{statistics.median(tq) / statistics.median(ref):.2f}x   "
              f"node_exporter / tcpq (median): "
              f"{statistics.median(ne) / statistics.median(tq):.1f}x   "
              f"tcpq peak RSS: {rss / 1024:.1f} MiB")
    finally:
        stop_all(procs, timeout=20)
        subprocess.run(["ip", "netns", "del", NS])


# Runs inside the namespace: scrapes each URL in turn, n rounds, and prints
# one line of milliseconds per round.
CLIENT = r"""
import sys, time, urllib.request
n, urls = int(sys.argv[1]), sys.argv[2:]
for _ in range(3):
    for u in urls: urllib.request.urlopen(u, timeout=30).read()
for _ in range(n):
    row = []
    for u in urls:
        t = time.perf_counter()
        body = urllib.request.urlopen(u, timeout=30).read()
        row.append((time.perf_counter() - t) * 1000)
        assert body
    print(" ".join(f"{x:.3f}" for x in row))
"""

if __name__ == "__main__":
    main()
