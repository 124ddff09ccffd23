#!/usr/bin/env python3
"""CPU per pass of the sockets collector's walk over every socket, with many
established connections, and the time of a GET /connections request; one
binary, or several side by side.

In a throwaway network namespace: CONNECTIONS loopback connections held open
by worker processes (two established sockets each, spread over several
processes for the 20000 open-file limit), made before the exporter starts
(so its first scrape seeds them all, as on a busy node). The exporter runs
inside the namespace with --netns=host --collector.sockets.interval=1s
--log.level=debug; each pass logs its own thread's CPU time (user + system:
the BPF iterator runs in the read() system calls), wall time and sockets
seen. The first PASSES passes that see every socket are kept.

With several --exporter binaries (e.g. a build of main and one of a branch),
each round runs every binary in turn, the order alternating from round to
round, over the same sockets: on a shared machine the load drifts, so only
figures taken side by side compare. Each binary's figures are its median
over all its passes and the range of its per-round medians.

Then, unless --requests 0, on an exporter whose walker sleeps, REQUESTS
/connections requests (limit 100, and one port's established connections)
are timed, wall and the process's CPU (/proc/<pid>/stat, 10 ms ticks).

Usage (root): python3 bench/socket_walk_bench.py [--connections 45000]
    [--passes 20] [--requests 10] [--rounds 1]
    [--exporter build/tcpq_exporter [--exporter other/tcpq_exporter ...]]
Standard library only; removes the namespace and every process it started.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

from procs import start_workers, stop_all

NS = f"tcpq-walkbench-{os.getpid()}"
BASE_PORT = 21000
EXPORTER_PORT = 9716

PASS = re.compile(r'msg="socket walk" sockets=(\d+) seconds=(\S+) cpu_seconds=(\S+)')


def ns_exec(*cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", NS, *cmd], **kw)


def cpu_ms(pid):
    """User + system CPU time of a process so far, in milliseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def fetch_ms(url):
    out = subprocess.run(
        ["ip", "netns", "exec", NS, sys.executable, "-c",
         "import sys,time,urllib.request\nt=time.perf_counter()\n"
         "b=urllib.request.urlopen(sys.argv[1],timeout=60).read()\n"
         "print((time.perf_counter()-t)*1000, len(b))", url],
        capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


BASE = f"http://127.0.0.1:{EXPORTER_PORT}"


def first_scrape():
    """Scrapes once, as soon as the exporter answers: that seeds the
    namespace's sockets."""
    deadline = time.monotonic() + 30
    while True:
        try:
            fetch_ms(f"{BASE}/metrics")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def walk_passes(exporter_path, sockets, count, procs):
    """The (sockets, wall s, CPU s) of the first `count` passes of a fresh
    exporter that see at least `sockets` sockets."""
    exporter = ns_exec(exporter_path, f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}",
                       "--netns=host", "--collector.sockets.interval=1s",
                       "--log.level=debug", stderr=subprocess.PIPE, text=True)
    procs.append(exporter)
    passes = []
    done = threading.Event()

    def read_log():
        for line in exporter.stderr:
            m = PASS.search(line)
            if m and int(m.group(1)) >= sockets and not done.is_set():
                passes.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
                if len(passes) >= count:
                    done.set()
    threading.Thread(target=read_log, daemon=True).start()
    try:
        first_scrape()
        if not done.wait(timeout=count * 2 + 60):
            raise RuntimeError(f"{exporter_path}: only {len(passes)} complete passes seen")
    finally:
        stop_all([exporter], timeout=20)
    return passes[:count]


def time_requests(exporter_path, count, procs):
    """Wall and CPU of /connections requests on an exporter whose walker
    sleeps (1 h interval, no scrape to wake it once its first pass is done):
    the process's CPU time around a request is the request's."""
    exporter = ns_exec(exporter_path, f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}",
                       "--netns=host", "--collector.sockets.interval=1h",
                       "--web.enable-connections", stderr=subprocess.DEVNULL)
    procs.append(exporter)
    try:
        first_scrape()
        time.sleep(3)  # the walk that scrape woke

        def request(path):
            before = cpu_ms(exporter.pid)
            wall, size = fetch_ms(f"{BASE}{path}")
            return wall, cpu_ms(exporter.pid) - before, size
        requests = [request("/connections") for _ in range(count)]
        filtered = [request(f"/connections?port={BASE_PORT}&state=established&limit=10000")
                    for _ in range(count)]
    finally:
        stop_all([exporter], timeout=20)
    return requests, filtered


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=45000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--exporter", action="append",
                        help="a tcpq_exporter binary (repeat to compare; "
                             "default build/tcpq_exporter)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, BPF)")
    exporters = args.exporter or ["build/tcpq_exporter"]

    subprocess.run(["ip", "netns", "add", NS], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        workers = start_workers(NS, args.connections, BASE_PORT)
        procs += workers
        sockets = 2 * args.connections + len(workers)

        cpu = {e: [] for e in exporters}    # every pass, ms
        wall = {e: [] for e in exporters}
        rounds = {e: [] for e in exporters}  # median CPU of each round, ms
        seen = 0
        for r in range(args.rounds):
            order = exporters if r % 2 == 0 else exporters[::-1]
            for e in order:
                passes = walk_passes(e, sockets, args.passes, procs)
                seen = passes[0][0]
                cpu[e] += [p[2] * 1000 for p in passes]
                wall[e] += [p[1] * 1000 for p in passes]
                rounds[e].append(statistics.median(p[2] * 1000 for p in passes))
                print(f"round {r + 1} {e}: CPU median {rounds[e][-1]:7.2f} ms",
                      flush=True)

        print(f"sockets held: {sockets}; sockets per pass: {seen}; "
              f"{args.passes} passes x {args.rounds} rounds per binary")
        for e in exporters:
            print(f"{e}:")
            print(f"  walk CPU per pass:  median {statistics.median(cpu[e]):7.2f} ms   "
                  f"round medians {min(rounds[e]):.2f} to {max(rounds[e]):.2f} ms   "
                  f"max {max(cpu[e]):7.2f} ms   (target <= 50 ms)")
            print(f"  walk time per pass: median {statistics.median(wall[e]):7.2f} ms   "
                  f"max {max(wall[e]):7.2f} ms")
        if len(exporters) > 1:
            first = exporters[0]
            for e in exporters[1:]:
                ratios = [b / a for a, b in zip(rounds[first], rounds[e])]
                print(f"{e} / {first}, per round: "
                      + ", ".join(f"{x:.3f}" for x in ratios))

        if args.requests > 0:
            for e in exporters:
                requests, filtered = time_requests(e, args.requests, procs)
                for name, rows in (("GET /connections (limit 100)", requests),
                                   ("GET /connections?port=P&state=established&limit=10000",
                                    filtered)):
                    print(f"{e}: {name}: median "
                          f"{statistics.median(r[0] for r in rows):7.1f} ms wall, "
                          f"{statistics.median(r[1] for r in rows):7.1f} ms CPU, "
                          f"{rows[0][2]} bytes")
    finally:
        stop_all(procs, timeout=20)
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
