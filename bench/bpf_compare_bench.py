#!/usr/bin/env python3
"""Nanoseconds per run of each tcpq BPF program for two (or more)
tcpq_exporter binaries side by side: all of them attached at once to the
same loopback connect/accept/close storm (bpf_cost_bench.py's), so every
program runs on the same events in the same seconds, whatever else the
shared machine does.

The programs of one tracepoint run one after the other, in the order they
were attached, and the first one takes the cache misses on the socket that
the others then find in cache (a third or more of its time here): the
binaries start in a rotating order, one round each first, and are compared
in the same position only. With --warmer W, W is attached first in every
round and not reported: the binaries compared then all run on a warm socket,
so two of them compare within each round. kernel.bpf_stats_enabled is set to
1 for the run (and restored). Per round, each binary's set_state_btf ns per
run; then, per program and position, each binary's median over the rounds
and, for two binaries, the ratios of the second to the first: in the same
position in adjacent rounds, and with --warmer also within each round.

Usage (root): python3 bench/bpf_compare_bench.py --exporter A --exporter B
    [--warmer W] [--rounds 10] [--duration 6] [--clients 4] [--acceptors 4]
Standard library only (plus bpftool and ip); removes the namespace and every
process it started.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

import bpf_cost_bench as cost
from procs import stop_all


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporter", action="append", required=True,
                        help="a tcpq_exporter binary (give two or more)")
    parser.add_argument("--warmer", help="a binary attached first in every round, "
                        "not reported")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per round")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--acceptors", type=int, default=4)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, bpf stats)")
    if not shutil.which("bpftool"):
        sys.exit("needs bpftool")
    paths = args.exporter

    with open(cost.STATS_SYSCTL) as f:
        old_stats = f.read().strip()
    procs, running = [], []
    subprocess.run(["ip", "netns", "add", cost.NS], check=True)
    try:
        with open(cost.STATS_SYSCTL, "w") as f:
            f.write("1")
        cost.start_storm_server(args.acceptors, procs)
        print(f"machine: {os.cpu_count()} CPUs, kernel {os.uname().release}, "
              f"load average {os.getloadavg()[0]:.2f} at start; storm: "
              f"{args.clients} clients, {args.acceptors} acceptors, "
              f"{args.duration:g} s per round")
        cost.run_clients(args.clients, cost.PORT, min(2.0, args.duration), "storm")

        # per_round[p][r] = (position, {program: ns/run})
        per_round = {p: [] for p in paths}
        for r in range(args.rounds):
            k = r % len(paths)
            order = paths[k:] + paths[:k]
            running = []
            if args.warmer:
                running.append(cost.Exporter(args.warmer, f"/tmp/{cost.NS}-w.log"))
            for i, p in enumerate(order):
                running.append(cost.Exporter(p, f"/tmp/{cost.NS}-{i}.log"))
                running[-1].scrape()  # seeds; attaches nothing more
            before = cost.prog_stats()
            done, _, rate, _ = cost.run_clients(args.clients, cost.PORT, args.duration,
                                                "storm")
            after = cost.prog_stats()
            line = []
            for i, (p, e) in enumerate(zip(order, running[1:] if args.warmer else running)):
                d = cost.delta(before, after, e.ids)
                per_round[p].append((i, {n: ns / runs for n, (runs, ns) in d.items()
                                         if runs >= cost.MIN_RUNS}))
                s = per_round[p][-1][1].get("set_state_btf")
                line.append(f"{p} {s:.1f}" if s else p)
            for e in running:
                e.stop()
            running = []
            print(f"round {r + 1}: {rate:.0f} conn/s ({done} connections); set_state_btf "
                  f"ns/run, in attach order: " + ", ".join(line), flush=True)

        names = sorted({n for p in paths for _, rnd in per_round[p] for n in rnd})
        print(f"\nmedian ns/run over the rounds (range), by attach position:")
        for n in names:
            for pos in range(len(paths)):
                cells = []
                for p in paths:
                    v = [rnd[n] for i, rnd in per_round[p] if i == pos and n in rnd]
                    cells.append(f"{p} {statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"
                                 if v else f"{p} -")
                print(f"  {n:<22} #{pos + 1}  " + "   ".join(cells))
        if len(paths) == 2:
            a, b = paths
            for n in names:
                ratios = []
                for r in range(args.rounds - 1):
                    # Rounds r and r + 1 hold each binary once in each position.
                    for pos in range(2):
                        va = [rnd.get(n) for i, rnd in (per_round[a][r], per_round[a][r + 1])
                              if i == pos]
                        vb = [rnd.get(n) for i, rnd in (per_round[b][r], per_round[b][r + 1])
                              if i == pos]
                        if va and vb and va[0] and vb[0]:
                            ratios.append(vb[0] / va[0])
                if ratios:
                    print(f"{n}: {b} / {a}, same position, adjacent rounds: median "
                          f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-"
                          f"{max(ratios):.3f}, {len(ratios)} pairs)")
                inside = [rb[1][n] / ra[1][n] for ra, rb in zip(per_round[a], per_round[b])
                          if n in ra[1] and n in rb[1]]
                if args.warmer and inside:
                    print(f"{n}: {b} / {a}, within each round (both after the warmer): "
                          f"median {statistics.median(inside):.3f} (range "
                          f"{min(inside):.3f}-{max(inside):.3f}, {len(inside)} rounds)")
    finally:
        for e in running:
            e.stop()
        stop_all(procs, timeout=20)
        subprocess.run(["ip", "netns", "del", cost.NS])
        with open(cost.STATS_SYSCTL, "w") as f:
            f.write(old_stats)


if __name__ == "__main__":
    main()
