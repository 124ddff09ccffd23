#!/usr/bin/env python3
"""tcpq_exporter against node_exporter under the clients of
tests/integration/test_hostile_clients.py, same attacks, same machine, one
run: how many of 8 scrapes succeed within 5 s under 200 slowloris
connections, 8 trickling request bodies and 16 kept-alive pollers; the
median latency of 100 concurrent scrapers against one scrape alone, with a
connection each and kept alive asking for gzip (from bench/scrape_burst, a
one-thread epoll client: a thread per Python client would measure the
client; --floor: what the same bursts take from a server that only writes
the reply); and an
authorised client's scrape rate under 20 clients flooding wrong passwords
(bcrypt cost 10), against its rate alone.

Both exporters serve only their own namespace's counters: tcpq with
--netns=host, node_exporter with netstat, tcpstat and sockstat (as in
bench/scrape_bench.py), so the HTTP servers are what differs.

Usage (root: tcpq loads BPF):
    python3 bench/hostile_clients_bench.py [--exporter build/tcpq_exporter]
        [--node-exporter /usr/bin/prometheus-node-exporter]
Standard library only.
"""
import argparse
import base64
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from test_hostile_clients import (  # noqa: E402
    SCRAPE_DEADLINE, Attackers, body_trickle, password_flood, poller, request, slowloris)

USERS = os.path.join(HERE, "..", "tests", "fixtures", "web_config", "users.yml")
BOB = base64.b64encode(b"bob:battery staple").decode()  # bcrypt cost 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv, marker, auth=False):
        self.name, self.marker = name, marker
        self.port = free_port()
        self.argv = [a.format(port=self.port) for a in argv]
        self.auth = auth

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.scrape():
                return self
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start: {self.argv}")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def scrape(self):
        """Whether one scrape succeeded within SCRAPE_DEADLINE."""
        extra = f"Authorization: Basic {BOB}\r\n" if self.auth else ""
        started = time.monotonic()
        try:
            status, _, body = request(
                self.port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{extra}"
                           "Connection: close\r\n\r\n".encode(), timeout=SCRAPE_DEADLINE)
        except OSError:
            return False
        return (status == 200 and self.marker in body
                and time.monotonic() - started < SCRAPE_DEADLINE)


def under(server, attack, count, scrapes=8):
    with Attackers(count, attack(server.port)):
        time.sleep(2)
        return sum(server.scrape() for _ in range(scrapes))


def burst_figure(lines, prefix, after):
    """The number after `after` on the line of scrape_burst's output that
    starts with `prefix`."""
    return float(next(line for line in lines if line.startswith(prefix))
                 .split(after)[1].split()[0])


def concurrent(server, burst_client, *flags, clients=100):
    """bench/scrape_burst against the server (with `flags`, and --floor): the
    median of one scrape alone, the median latency of the scrapes a burst of
    `clients` got served, the status counts, and the floor (the same bursts
    against a server that only writes the same reply)."""
    out = subprocess.run([burst_client, "--port", str(server.port), "--clients",
                          str(clients), "--rounds", "10", "--floor", *flags],
                         check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    statuses = {line.split("'")[1].split()[1]: int(line.rsplit(": ", 1)[1])
                for line in lines if line.startswith("status ")}
    others = sum(n for code, n in statuses.items() if code not in ("200", "503"))
    ms = lambda prefix, after: burst_figure(lines, prefix, after) / 1000
    return {"single": ms("one scrape alone", ": "), "p50": ms(f"{clients} concurrent", "served "),
            "floor": ms("floor", ": "),
            "ok": f"{statuses.get('200', 0)} × 200, {statuses.get('503', 0)} × 503, {others} other"}


def rate(server, seconds=4):
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        done += server.scrape()
    return done / (time.monotonic() - started)


def flooded(server):
    server.scrape()  # cached from now on, where a server caches
    alone = rate(server)
    stop, results = multiprocessing.Event(), multiprocessing.Queue()
    flooder = multiprocessing.Process(target=password_flood,
                                      args=(server.port, 20, stop, results))
    flooder.start()
    time.sleep(1)
    during = rate(server)
    stop.set()
    results.get(timeout=60)
    flooder.join(timeout=60)
    return alone, during


def latency(r):
    return (f"{r['p50'] * 1000:.1f} / {r['single'] * 1000:.1f} ms ({r['p50'] / r['single']:.1f}×; "
            f"floor {r['floor'] * 1000:.1f} ms, above it {(r['p50'] - r['floor']) / r['single']:.1f}×)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporter", default="build/tcpq_exporter")
    parser.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    parser.add_argument("--scrape-burst", default="build/bench/scrape_burst",
                        help="the burst client (bench/scrape_burst.cc)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (tcpq_exporter loads BPF)")
    node_flags = ["--collector.disable-defaults", "--collector.netstat",
                  "--collector.tcpstat", "--collector.sockstat"]
    servers = {
        "tcpq_exporter": lambda auth: Server(
            "tcpq_exporter", [args.exporter, "--web.listen-address=127.0.0.1:{port}",
                              "--netns=host", *([f"--web.config.file={USERS}"] if auth else [])],
            b"tcpq_exporter_build_info", auth),
        "node_exporter": lambda auth: Server(
            "node_exporter", [args.node_exporter, "--web.listen-address=127.0.0.1:{port}",
                              *node_flags, *([f"--web.config.file={USERS}"] if auth else [])],
            b"node_exporter_build_info", auth),
    }
    rows = {}
    for name, make in servers.items():
        with make(False) as server:
            r = rows[name] = {}
            r["slowloris"] = under(server, slowloris, 200)
            r["trickle"] = under(server, body_trickle, 8)
            r["pollers"] = under(server, poller, 16)
            r["burst"] = concurrent(server, args.scrape_burst)
            r["kept"] = concurrent(server, args.scrape_burst, "--keep-alive", "--gzip")
        with make(True) as server:
            r["alone"], r["flooded"] = flooded(server)
        print(f"{name}: {r}", file=sys.stderr, flush=True)
    print("| what | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for label, cell in (
            ("scrapes OK within 5 s of 8, 200 slowloris connections",
             lambda r: f"{r['slowloris']}/8"),
            ("the same, 8 request bodies at 1 byte/s", lambda r: f"{r['trickle']}/8"),
            ("the same, 16 kept-alive pollers every 0.4 s", lambda r: f"{r['pollers']}/8"),
            ("100 concurrent scrapes, 10 bursts (--web.max-requests 40 in both)",
             lambda r: r["burst"]["ok"]),
            ("the same: median latency of those served / one alone",
             lambda r: latency(r["burst"])),
            ("100 kept-alive scrapers asking for gzip, as Prometheus: the same",
             lambda r: latency(r["kept"])),
            ("authorised scrapes/s alone → under 20 clients of wrong passwords",
             lambda r: f"{r['alone']:.0f} → {r['flooded']:.1f} "
                       f"({r['flooded'] / r['alone']:.2f})")):
        print(f"| {label} | " + " | ".join(cell(r) for r in rows.values()) + " |")


if __name__ == "__main__":
    main()
