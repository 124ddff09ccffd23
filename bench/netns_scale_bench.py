#!/usr/bin/env python3
"""Scrape latency and peak RSS with many network namespaces.

Creates NAMESPACES throwaway namespaces with LISTENERS listening sockets each
(one holder process per namespace), starts tcpq_exporter (--netns=all, default
collectors), scrapes it SCRAPES times, and prints the median and p99 scrape
time, the exporter's CPU time per scrape (user + system, from /proc/<pid>/stat:
steadier than wall time on a shared machine), the series count and the
exporter's peak RSS (VmHWM). The same run also scrapes with no extra namespace
first, for reference.

Given --exporter more than once (e.g. a build before and after a change), it
runs them side by side on the same namespaces and scrapes them in turn, so
both see the same machine load.

Usage (root): python3 bench/netns_scale_bench.py [--namespaces 100] [--listeners 10]
    [--scrapes 100] [--gzip] [--exporter build/tcpq_exporter [--exporter OTHER] | --url URL]
--gzip asks for the text gzip-encoded, as Prometheus does (the time then includes
the compression; the client's decompression is not timed).
--url scrapes an exporter that is already running (its CPU and RSS are then not
reported: bench/pod_resources_bench.py measures the DaemonSet's pod).
Standard library only; removes every namespace it made.
"""
import argparse
import contextlib
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ACCEPT = {}  # request headers of every scrape: Accept-Encoding with --gzip

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


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(url):
    """The body as sent (gzip-encoded with --gzip)."""
    request = urllib.request.Request(url, headers=ACCEPT)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def scrape_rounds(exporters, n):
    """Scrapes every exporter in turn, n rounds. Per exporter: scrape times in
    ms, CPU ms per scrape, series of the last scrape, and its per-collector
    durations in ms. Warms up for 3 rounds and at least 2.5 s: the sockets
    collector's first walk over new namespaces comes up to 1 s after a scrape
    finds them, and scrapes before it lack their series."""
    rounds, warm_until = 0, time.monotonic() + 2.5
    while rounds < 3 or time.monotonic() < warm_until:
        for e in exporters:
            fetch(e["url"])
        rounds += 1
    times = [[] for _ in exporters]
    bodies = [b""] * len(exporters)
    cpu_before = [cpu_seconds(e["proc"].pid) if e["proc"] else 0 for e in exporters]
    for _ in range(n):
        for i, e in enumerate(exporters):
            start = time.perf_counter()
            bodies[i] = fetch(e["url"])
            times[i].append((time.perf_counter() - start) * 1000)
    results = []
    for i, e in enumerate(exporters):
        cpu_ms = ((cpu_seconds(e["proc"].pid) - cpu_before[i]) * 1000 / n
                  if e["proc"] else float("nan"))
        body = bodies[i]
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        lines = body.decode().splitlines()
        series = sum(1 for line in lines if line and line[0] != "#")
        durations = {line.split('"')[1]: float(line.split()[-1]) * 1000
                     for line in lines
                     if line.startswith("tcpq_collector_duration_seconds{")}
        results.append((times[i], cpu_ms, series, durations))
    return results


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
    parser.add_argument("--gzip", action="store_true",
                        help="send Accept-Encoding: gzip, as Prometheus does")
    parser.add_argument("--exporter", action="append",
                        help="binary to measure (repeat to compare; default "
                             "build/tcpq_exporter)")
    parser.add_argument("--url", help="scrape this /metrics URL instead of starting "
                        "an exporter")
    args = parser.parse_args()
    if args.gzip:
        ACCEPT["Accept-Encoding"] = "gzip"
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")

    exporters = []
    try:
        if args.url:
            exporters.append({"binary": args.url, "url": args.url, "proc": None})
        for binary in args.exporter or ([] if args.url else ["build/tcpq_exporter"]):
            port = free_port()
            exporters.append({
                "binary": binary, "url": f"http://127.0.0.1:{port}/metrics",
                "proc": subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"],
                                         stderr=subprocess.DEVNULL)})
        time.sleep(1)
        base = scrape_rounds(exporters, args.scrapes)
        with listener_namespaces(args.namespaces, args.listeners):
            loaded = scrape_rounds(exporters, args.scrapes)
        for e, (base_times, base_cpu, base_series, _), \
                (times, cpu, series, durations) in zip(exporters, base, loaded):
            print(f"== {e['binary']}")
            print(f"{'namespaces':>12} {'series':>8} {'median ms':>10} {'p99 ms':>8} "
                  f"{'CPU ms/scrape':>14}")
            print(f"{'host only':>12} {base_series:>8} {statistics.median(base_times):>10.2f} "
                  f"{p99(base_times):>8.2f} {base_cpu:>14.2f}")
            print(f"{f'+{args.namespaces}x{args.listeners}':>12} {series:>8} "
                  f"{statistics.median(times):>10.2f} {p99(times):>8.2f} {cpu:>14.2f}")
            print("last scrape, per collector: " +
                  ", ".join(f"{k} {v:.2f} ms" for k, v in durations.items()))
            if e["proc"]:
                print(f"tcpq_exporter peak RSS: {peak_rss_mib(e['proc'].pid):.1f} MiB")
    finally:
        for e in exporters:
            if e["proc"]:
                e["proc"].terminate()
                e["proc"].wait(timeout=10)


if __name__ == "__main__":
    main()
