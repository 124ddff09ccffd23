#!/usr/bin/env python3
"""Bursts of 100 kept-alive scrapers asking for gzip (as Prometheus scrapes)
against the exporter, whose HTTP front is CivetWeb's worker thread per
connection, and against bench/event_front_bench, the same collection behind
one epoll thread; in turn, a fresh server each run. Prints, per run, one
scrape alone, the burst's median latency of the scrapes served, their ratio
and the server's CPU per request (bench/scrape_burst), then each front's
median ratio: whether an event-driven front would bring the ratio under the
issue's 2x.

Usage (root: both load BPF):
    python3 bench/burst_fronts_bench.py [--build build] [--runs 6]
Standard library only.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hostile_clients_bench import Server, burst_figure  # noqa: E402


def burst(client, server):
    out = subprocess.run(
        [client, "--port", str(server.port), "--keep-alive", "--gzip", "--rounds", "20",
         "--server-pid", str(server.proc.pid)],
        check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    cpu = next(line for line in lines if line.startswith("server CPU"))
    cpu_us = sum(float(part.split()[-2]) for part in cpu.split(":", 1)[1].split(";")
                 if part.strip())
    return {"single": burst_figure(lines, "one scrape alone", ": "),
            "p50": burst_figure(lines, "100 concurrent", "served "),
            "ratio": burst_figure(lines, "ratio", ": "), "cpu": cpu_us}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    client = os.path.join(args.build, "bench", "scrape_burst")
    fronts = {
        "CivetWeb (tcpq_exporter)": os.path.join(args.build, "tcpq_exporter"),
        "epoll (event_front_bench)": os.path.join(args.build, "bench", "event_front_bench"),
    }
    ratios = {name: [] for name in fronts}
    cpus = {name: [] for name in fronts}
    print("| run | front | one scrape | burst median | ratio | server CPU per request |")
    print("|---|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        for name, binary in fronts.items():
            with Server(name, [binary, "--web.listen-address=127.0.0.1:{port}"],
                        b"tcpq_exporter_build_info") as server:
                r = burst(client, server)
            ratios[name].append(r["ratio"])
            cpus[name].append(r["cpu"])
            print(f"| {run} | {name} | {r['single']:.2f} ms | {r['p50']:.2f} ms | "
                  f"{r['ratio']:.2f} | {r['cpu']:.0f} µs |", flush=True)
    for name, values in ratios.items():
        print(f"{name}: ratio {min(values):.2f} to {max(values):.2f}, "
              f"median {statistics.median(values):.2f}; server CPU per request "
              f"{min(cpus[name]):.0f} to {max(cpus[name]):.0f} µs")


if __name__ == "__main__":
    main()
