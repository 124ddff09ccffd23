#!/usr/bin/env python3
"""Scrape latency and peak RSS with many network namespaces.

Creates NAMESPACES throwaway namespaces with LISTENERS listening sockets each
(one holder process per namespace), starts tcpq_exporter (--netns=all, default
collectors), scrapes it SCRAPES times, and prints the median and p99 scrape
time, the series count and the exporter's peak RSS (VmHWM). The same run also
scrapes with no extra namespace first, for reference.

Usage (root): python3 bench/netns_scale_bench.py [--namespaces 100] [--listeners 10]
    [--scrapes 100] [--exporter build/tcpq_exporter | --url URL]
--url scrapes an exporter that is already running (its RSS is then not
reported: bench/pod_resources_bench.py measures the DaemonSet's pod).
Standard library only; removes every namespace it made.
"""
import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HOLDER = r"""
import socket, sys
held = []
for i in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 30000 + i)); s.listen(128); held.append(s)
print("ready", flush=True)
sys.stdin.read()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_times(url, n):
    for _ in range(3):
        urllib.request.urlopen(url, timeout=30).read()
    times, body = [], b""
    for _ in range(n):
        start = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=30).read()
        times.append((time.perf_counter() - start) * 1000)
    lines = body.decode().splitlines()
    series = sum(1 for line in lines if line and line[0] != "#")
    durations = {line.split('"')[1]: float(line.split()[-1]) * 1000
                 for line in lines if line.startswith("tcpq_collector_duration_seconds{")}
    return times, series, durations


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def listener_namespaces(count, listeners):
    """`count` namespaces with `listeners` listening sockets each (one holder
    process per namespace); all removed on exit."""
    names, holders = [], []
    try:
        for i in range(count):
            name = f"tcpq-scale-{os.getpid()}-{i}"
            subprocess.run(["ip", "netns", "add", name], check=True)
            names.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            h = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", HOLDER,
                                  str(listeners)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            holders.append(h)
        for h in holders:
            if h.stdout.readline().strip() != "ready":
                raise RuntimeError("listener holder failed")
        yield names
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(timeout=10)
            h.stdout.close()
        for name in names:
            subprocess.run(["ip", "netns", "del", name])


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--listeners", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=100)
    parser.add_argument("--exporter", default="build/tcpq_exporter")
    parser.add_argument("--url", help="scrape this /metrics URL instead of starting "
                        "--exporter")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")

    exporter = None
    if args.url:
        url = args.url
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}/metrics"
        exporter = subprocess.Popen([args.exporter, f"--web.listen-address=127.0.0.1:{port}"],
                                    stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        base_times, base_series, _ = scrape_times(url, args.scrapes)
        with listener_namespaces(args.namespaces, args.listeners):
            times, series, durations = scrape_times(url, args.scrapes)
        print(f"{'namespaces':>12} {'series':>8} {'median ms':>10} {'p99 ms':>8}")
        print(f"{'host only':>12} {base_series:>8} {statistics.median(base_times):>10.2f} "
              f"{p99(base_times):>8.2f}")
        print(f"{f'+{args.namespaces}x{args.listeners}':>12} {series:>8} "
              f"{statistics.median(times):>10.2f} {p99(times):>8.2f}")
        print("last scrape, per collector: " +
              ", ".join(f"{k} {v:.2f} ms" for k, v in durations.items()))
        if exporter:
            print(f"tcpq_exporter peak RSS: {peak_rss_mib(exporter.pid):.1f} MiB")
    finally:
        if exporter:
            exporter.terminate()
            exporter.wait(timeout=10)


if __name__ == "__main__":
    main()
