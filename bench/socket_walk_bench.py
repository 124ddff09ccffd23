#!/usr/bin/env python3
"""CPU per pass of the sockets collector's walk over every socket, with many
established connections, and the time of a GET /connections request.

In a throwaway network namespace: CONNECTIONS loopback connections held open
by worker processes (two established sockets each, spread over several
processes for the 20000 open-file limit), made before the exporter starts
(so its first scrape seeds them all, as on a busy node). The exporter runs
inside the namespace with --netns=host --collector.sockets.interval=1s
--log.level=debug; each pass logs its own thread's CPU time (user + system:
the BPF iterator runs in the read() system calls), wall time and sockets
seen. The first PASSES passes that see every socket are reported. Then, on
a second exporter whose walker sleeps, REQUESTS /connections requests
(limit 100, and one port's established connections) are timed, wall and
the process's CPU (/proc/<pid>/stat, 10 ms ticks).

Usage (root): python3 bench/socket_walk_bench.py [--connections 45000]
    [--passes 20] [--requests 10] [--exporter build/tcpq_exporter]
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
import urllib.request

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


def first_scrape(base):
    """Scrapes once, as soon as the exporter answers: that seeds the
    namespace's sockets."""
    deadline = time.monotonic() + 30
    while True:
        try:
            fetch_ms(f"{base}/metrics")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=45000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--exporter", default="build/tcpq_exporter")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, BPF)")

    subprocess.run(["ip", "netns", "add", NS], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        workers = start_workers(NS, args.connections, BASE_PORT)
        procs += workers
        sockets = 2 * args.connections + len(workers)

        exporter = ns_exec(args.exporter, f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}",
                           "--netns=host", "--collector.sockets.interval=1s",
                           "--web.enable-connections", "--log.level=debug",
                           stderr=subprocess.PIPE, text=True)
        procs.append(exporter)
        passes = []
        done = threading.Event()

        def read_log():
            for line in exporter.stderr:
                m = PASS.search(line)
                if m and int(m.group(1)) >= sockets:
                    passes.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
                    if len(passes) >= args.passes:
                        done.set()
        threading.Thread(target=read_log, daemon=True).start()
        base = f"http://127.0.0.1:{EXPORTER_PORT}"
        first_scrape(base)
        if not done.wait(timeout=args.passes * 2 + 60):
            raise RuntimeError(f"only {len(passes)} complete passes seen")

        stop_all([exporter], timeout=20)
        # Requests against an exporter whose walker sleeps (1 h interval, no
        # scrape to wake it once its first pass is done): the process's CPU
        # time around a request is the request's.
        exporter = ns_exec(args.exporter, f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}",
                           "--netns=host", "--collector.sockets.interval=1h",
                           "--web.enable-connections", stderr=subprocess.DEVNULL)
        procs.append(exporter)
        first_scrape(base)
        time.sleep(3)  # the walk that scrape woke

        def request(path):
            before = cpu_ms(exporter.pid)
            wall, size = fetch_ms(f"{base}{path}")
            return wall, cpu_ms(exporter.pid) - before, size
        requests = [request("/connections") for _ in range(args.requests)]
        filtered = [request(f"/connections?port={BASE_PORT}&state=established&limit=10000")
                    for _ in range(args.requests)]

        cpu = [p[2] * 1000 for p in passes]
        wall = [p[1] * 1000 for p in passes]
        print(f"sockets held: {sockets}; sockets per pass: {passes[0][0]}; "
              f"{len(passes)} passes")
        print(f"walk CPU per pass:  median {statistics.median(cpu):7.2f} ms   "
              f"max {max(cpu):7.2f} ms   (target <= 50 ms)")
        print(f"walk time per pass: median {statistics.median(wall):7.2f} ms   max {max(wall):7.2f} ms")
        for name, rows in (("GET /connections (limit 100)", requests),
                           ("GET /connections?port=P&state=established&limit=10000",
                            filtered)):
            print(f"{name}: median {statistics.median(r[0] for r in rows):7.1f} ms wall, "
                  f"{statistics.median(r[1] for r in rows):7.1f} ms CPU, {rows[0][2]} bytes")
    finally:
        stop_all(procs, timeout=20)
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
