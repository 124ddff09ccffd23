#!/usr/bin/env python3
"""BPF cost: nanoseconds per run of each tcpq BPF program, and the
connections/s of a loopback connect/accept/close storm with and without
tcpq_exporter running.

Everything runs in a throwaway network namespace: one listener with ACCEPTORS
processes accepting and closing, CLIENTS processes connecting and closing as
fast as they can for DURATION seconds per round (both cores busy). Clients
close first, with the full FIN exchange, and leave TIME_WAIT; in the
namespace the port range is widened and tcp_tw_reuse=1, so the storm never
runs out of ports, and the accept queue is 65535 deep with the acceptors at
nice -5, so no SYN is dropped (a drop would stall a client 1 s; the
ListenOverflows column shows it). Rounds alternate without/with the exporter (started and
stopped for each round, default collectors; its BPF programs attach at start),
ROUNDS of each, in ABBA order so neither arm always runs first.

kernel.bpf_stats_enabled is set to 1 for the whole run (and restored on exit):
the kernel then adds run_cnt and run_time_ns to every program, read from
`bpftool -j prog show` before and after each storm for the programs the
exporter holds (found through /proc/<pid>/fdinfo, so other tcpq_exporter
instances on the machine are not mixed in). Stats accounting itself costs
two clock reads per run, in the "with" rounds only for this exporter (and in
both arms for other instances): the connections/s ratio is, if anything,
pessimistic; --no-stats measures only the ratio, with stats off as in
production.

After the storm rounds, two short phases with the exporter running exercise
the other hooks: connects to a closed port (tcp_send_reset,
tcp_receive_reset) and, if `nft` is installed, connections with randomly
dropped SYN-ACKs and data segments (tcp_retransmit_synack,
tcp_retransmit_skb). The programs see every TCP event of the machine, so each
phase also catches a few events of other workloads: each program is judged
on the phase where it ran most. The seeding walk (iter/tcp) runs once per
namespace on the exporter's first scrape and is reported from that scrape.
A program that did not run is reported as not measured, never as meeting
the target.

The connections/s ratio is the median, over adjacent with/without rounds, of
with / without (other load on a shared machine drifts over a run), and the
same for connections per CPU second of the storm's processes (clients' and
acceptors' user + system time, for information). The target is called met
or missed only if the confidence interval of that median (order statistics,
95% where the number of rounds allows) lies on one side of it, inconclusive
otherwise.

Usage (root): python3 bench/bpf_cost_bench.py [--rounds 10] [--duration 6]
    [--clients 4] [--acceptors 4] [--extra-duration 4] [--no-extra] [--no-stats]
    [--exporter build/tcpq_exporter]
Standard library only (plus bpftool, ip, and nft if present); removes the
namespace, every process it started and restores kernel.bpf_stats_enabled.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from procs import stop_all

NS = f"tcpq-bpfcost-{os.getpid()}"
PORT = 20000          # storm listener
LOSS_PORT = 20001     # listener of the loss phase
CLOSED_PORT = 20002   # nothing listens here
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
COST_TARGET_NS = 100.0
RATIO_TARGET = 0.98
MIN_RUNS = 100        # fewer runs than this: too few to call an average

# Listener plus acceptor processes (forked, sharing the socket): accept and
# close. Exits when stdin closes or on SIGTERM, taking its children along.
SERVER = r"""
import os, signal, socket, sys
port, acceptors, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(65535); ls.settimeout(1)
parent = os.getpid()
children = []
for _ in range(acceptors):
    pid = os.fork()
    if pid == 0:
        os.nice(-5)  # ahead of the clients: a full accept queue would stall a client 1 s
        payload = b"x" * 4096
        while os.getppid() == parent:
            try:
                c, _ = ls.accept()
            except (socket.timeout, OSError):
                continue
            try:
                if mode == "send":
                    c.setblocking(False)
                    try: c.send(payload)
                    except OSError: pass
            finally:
                c.close()
        os._exit(0)
    children.append(pid)
def stop(*_):
    for pid in children:
        try: os.kill(pid, signal.SIGTERM)
        except ProcessLookupError: pass
    for pid in children:
        try: os.waitpid(pid, 0)
        except ChildProcessError: pass
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", *children, flush=True)
sys.stdin.read()
stop()
"""

# Connects and closes as fast as it can for `duration` seconds after "go" on
# stdin; prints completed connections, failures and elapsed seconds.
# mode "storm": connect + close. mode "refused": connect to a closed port.
# mode "loss": `threads` threads connect, read until EOF, close.
CLIENT = r"""
import socket, sys, threading, time
port, duration, mode, threads = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
addr = ("127.0.0.1", port)
print("ready", flush=True)
sys.stdin.readline()
counts = [[0, 0] for _ in range(threads)]
start = time.monotonic(); end = start + duration
def run(slot):
    c = counts[slot]
    while time.monotonic() < end:
        s = socket.socket()
        try:
            if mode == "loss":
                s.settimeout(max(0.05, end - time.monotonic()))
            s.connect(addr)
            if mode == "loss":
                while s.recv(65536): pass
            c[0] += 1
        except OSError:
            c[1] += 1
        finally:
            s.close()
if threads == 1:
    run(0)
else:
    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
elapsed = time.monotonic() - start
print(sum(c[0] for c in counts), sum(c[1] for c in counts), f"{elapsed:.6f}", flush=True)
"""

TCPQ_PROG_NAMES = {
    "set_state_btf", "set_state_raw", "retransmit_skb_btf", "retransmit_skb_raw",
    "retransmit_synack_btf", "retransmit_synack_raw", "send_reset_btf",
    "send_reset_raw", "receive_reset_btf", "receive_reset_raw", "seed_sockets",
}


def ns_popen(*cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", NS, *cmd], **kw)


def ns_run(*cmd):
    return subprocess.run(["ip", "netns", "exec", NS, *cmd], check=True,
                          capture_output=True, text=True).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prog_stats():
    """{prog id: (name, run_cnt, run_time_ns)} for every loaded program."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True,
                         capture_output=True, text=True).stdout
    return {p["id"]: (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out)}


def owned_prog_ids(pid):
    """Program ids held by process `pid` (its bpf-prog fds)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def count_links(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf_link":
                n += 1
        except OSError:
            pass
    return n


def delta(before, after, ids):
    """{name: [runs, ns]} summed over `ids`, after - before."""
    out = {}
    for i in ids:
        if i not in after:
            continue
        name, cnt, ns = after[i]
        _, cnt0, ns0 = before.get(i, (name, 0, 0))
        acc = out.setdefault(name, [0, 0])
        acc[0] += cnt - cnt0
        acc[1] += ns - ns0
    return out


def others_ran(before, after, ids):
    """Names of tcpq programs not ours that ran between the snapshots."""
    return sorted({after[i][0] for i in after
                   if i not in ids and after[i][0] in TCPQ_PROG_NAMES
                   and after[i][1] > before.get(i, ("", 0, 0))[1]})


def other_tcpq_instances(own_pid):
    """PIDs of other processes named tcpq_exporter (not started here)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != own_pid:
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == "tcpq_exporter":
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def netstat(field):
    lines = ns_run("cat", "/proc/net/netstat").splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        names, values = head.split(), vals.split()
        if field in names:
            return int(values[names.index(field)])
    return 0


class Exporter:
    """tcpq_exporter in the host namespace; its collectors (and so its BPF
    programs) are created before it listens."""

    def __init__(self, path, log_path):
        self.port = free_port()
        self.log = open(log_path, "w")
        for attempt in range(50):  # the binary may briefly vanish during a relink
            try:
                self.proc = subprocess.Popen(
                    [path, f"--web.listen-address=127.0.0.1:{self.port}"],
                    stdout=self.log, stderr=self.log)
                break
            except (FileNotFoundError, PermissionError, OSError):
                if attempt == 49:
                    self.log.close()
                    raise
                time.sleep(0.2)
        try:
            deadline = time.monotonic() + 20
            while True:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"exporter did not start (log: {log_path})")
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            self.ids = owned_prog_ids(self.proc.pid)
            if not self.ids or count_links(self.proc.pid) == 0:
                raise RuntimeError(f"exporter attached no BPF program (log: {log_path})")
        except BaseException:
            self.stop()
            raise

    def scrape(self):
        url = f"http://127.0.0.1:{self.port}/metrics"
        for attempt in range(50):
            try:
                return urllib.request.urlopen(url, timeout=30).read().decode()
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_clients(n, port, duration, mode, threads=1):
    """Starts n clients, releases them together. Returns (completed, failed,
    connections/s, the clients' CPU seconds, user + system)."""
    clients = [ns_popen(sys.executable, "-c", CLIENT, str(port), str(duration), mode,
                        str(threads), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(n)]
    cpu = 0.0
    try:
        for c in clients:
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError("client failed to start")
        for c in clients:
            c.stdin.write("go\n")
            c.stdin.flush()
        done = failed = 0
        rate = 0.0
        for c in clients:
            fields = c.stdout.readline().split()
            if len(fields) != 3:
                raise RuntimeError("client failed")
            done += int(fields[0])
            failed += int(fields[1])
            rate += int(fields[0]) / float(fields[2])
        for c in clients:
            c.stdin.close()
            _, status, usage = os.wait4(c.pid, 0)  # `ip netns exec` execs: the client itself
            c.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
        return done, failed, rate, cpu
    finally:
        for c in clients:
            if c.returncode is None:
                c.kill()
                c.wait()


def start_storm_server(acceptors, procs):
    """In the namespace NS (made by the caller): loopback up, the sysctls
    that keep a storm from running out of ports or dropping SYNs, and the
    storm's listener with its acceptor processes (appended to `procs`).
    Returns the acceptors' pids."""
    subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
    ns_run("sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1",
           "net.ipv4.ip_local_port_range=1024 65000", "net.core.somaxconn=65535")
    server = ns_popen(sys.executable, "-c", SERVER, str(PORT), str(acceptors), "close",
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(server)
    ready = server.stdout.readline().split()
    if not ready or ready[0] != "ready":
        raise RuntimeError("server failed")
    return [int(pid) for pid in ready[1:]]


def cpu_seconds(pids):
    """utime + stime of the given processes, in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def median_ci(values, confidence=0.95):
    """(low, high, coverage): distribution-free confidence interval of the
    median from order statistics (binomial), the narrowest reaching
    `confidence`, else [min, max] with its own coverage."""
    x, n = sorted(values), len(values)
    low, high, coverage = x[0], x[-1], 1 - 2 / 2 ** n
    for k in range(2, n // 2 + 1):
        c = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if c < confidence:
            break
        low, high, coverage = x[k - 1], x[n - k], c
    return low, high, coverage


def fmt_ns(runs, ns):
    return f"{ns / runs:8.1f}" if runs else "       -"


def report_costs(cost, extra_phases, seed, connections_with):
    """Prints the per-program table; returns (verdict, unmeasured, missed)."""
    rows = [(name, "storm (with rounds)", v) for name, v in sorted(cost.items())
            if name != "seed_sockets"]
    for phase, (d, _) in extra_phases.items():
        rows += [(name, phase, v) for name, v in sorted(d.items()) if name != "seed_sockets"]
    if seed[0]:
        rows.append(("seed_sockets", "first scrapes (walk)", seed))
    # Each program is judged on the phase where it ran most (the programs
    # see every TCP event of the machine, so a phase also catches a few
    # events of other workloads); the other rows are for information.
    judged = {}
    for k, (name, _, (runs, _)) in enumerate(rows):
        if name == "seed_sockets" or runs < MIN_RUNS:
            continue
        if name not in judged or runs > rows[judged[name]][2][0]:
            judged[name] = k
    print(f"\n{'program':<24} {'phase':<22} {'runs':>10} {'avg ns/run':>10}  "
          f"target <= {COST_TARGET_NS:.0f} ns")
    verdict = {}
    for k, (name, phase, (runs, ns)) in enumerate(rows):
        if runs < MIN_RUNS:
            note = "too few runs to judge" if runs else "no runs"
        else:
            ok = ns / runs <= COST_TARGET_NS
            note = "met" if ok else "MISSED"
            if judged.get(name) == k:
                verdict[name] = ok
            elif name != "seed_sockets":
                note = f"({note}; judged on its largest phase)"
        print(f"{name:<24} {phase:<22} {runs:>10} {fmt_ns(runs, ns):>10}  {note}")
    for phase, (_, what) in extra_phases.items():
        print(f"  {phase}: {what}")
    if connections_with:
        print(f"storm connections with the exporter: {connections_with}")

    hooks = sorted(n for n in TCPQ_PROG_NAMES if n != "seed_sockets"
                   and n.endswith("_btf"))
    loaded = set(cost) | {n for d, _ in extra_phases.values() for n in d}
    if not any(n.endswith("_btf") for n in loaded):
        hooks = sorted(n for n in TCPQ_PROG_NAMES if n.endswith("_raw"))
    unmeasured = [n for n in hooks if n not in verdict]
    missed = [n for n in hooks if verdict.get(n) is False]
    return verdict, unmeasured, missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of each arm")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per round")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--acceptors", type=int, default=4)
    parser.add_argument("--extra-duration", type=float, default=4.0,
                        help="seconds of each extra phase (resets, losses)")
    parser.add_argument("--no-stats", action="store_true",
                        help="keep kernel.bpf_stats_enabled at 0: the storm ratio as in "
                        "production, no per-program figures")
    parser.add_argument("--no-extra", action="store_true",
                        help="skip the reset and loss phases")
    parser.add_argument("--exporter", default="build/tcpq_exporter")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, bpf stats)")
    if not shutil.which("bpftool"):
        sys.exit("needs bpftool")
    exporter_path = os.path.abspath(args.exporter)
    log_path = f"/tmp/{NS}.log"

    with open(STATS_SYSCTL) as f:
        old_stats = f.read().strip()
    procs, exporter = [], None
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        with open(STATS_SYSCTL, "w") as f:
            f.write("0" if args.no_stats else "1")
        acceptors = start_storm_server(args.acceptors, procs)

        others = other_tcpq_instances(os.getpid())
        print(f"machine: {os.cpu_count()} CPUs, kernel {os.uname().release}, "
              f"load average {os.getloadavg()[0]:.2f} at start")
        print(f"storm: {args.clients} client processes, {args.acceptors} acceptor processes, "
              f"{args.duration:g} s per round, {args.rounds} rounds each arm")
        if others:
            print(f"note: {len(others)} other tcpq_exporter process(es) already running "
                  f"(pids {', '.join(map(str, others))}): their programs run in both arms")

        # Warm-up, not counted.
        run_clients(args.clients, PORT, min(2.0, args.duration), "storm")

        rates = {False: [], True: []}
        cpu_per_conn = {False: [], True: []}  # storm processes' CPU us per connection
        cost = {}            # name -> [runs, ns] summed over the "with" rounds
        connections_with = 0
        other_progs = set()
        seed = [0, 0]
        sequence = []        # (with exporter, conn/s, CPU us/conn) per round, in order
        order = []
        for r in range(args.rounds):
            order += [False, True] if r % 2 == 0 else [True, False]
        print(f"\n{'round':>5} {'exporter':>8} {'conn/s':>8} {'connections':>11} "
              f"{'failed':>6} {'overflows':>9} {'CPU us/conn':>11} {'set_state runs/conn':>19} "
              f"{'ns/run':>7} {'BPF us/conn':>11}")
        for i, with_exporter in enumerate(order):
            if with_exporter:
                exporter = Exporter(exporter_path, log_path)
                before = prog_stats()
                exporter.scrape()  # first scrape: logs the attachments, seeds the gauge
                after = prog_stats()
                runs, ns = delta(before, after, exporter.ids).get("seed_sockets", [0, 0])
                seed = [seed[0] + runs, seed[1] + ns]
            overflows0 = netstat("ListenOverflows")
            acceptor_cpu0 = cpu_seconds(acceptors)
            before = prog_stats()
            done, failed, rate, cpu = run_clients(args.clients, PORT, args.duration, "storm")
            after = prog_stats()
            cpu += cpu_seconds(acceptors) - acceptor_cpu0
            overflows = netstat("ListenOverflows") - overflows0
            cpu_us = cpu / max(done, 1) * 1e6
            extra = ""
            if with_exporter:
                d = delta(before, after, exporter.ids)
                for name, v in d.items():
                    acc = cost.setdefault(name, [0, 0])
                    acc[0] += v[0]
                    acc[1] += v[1]
                connections_with += done
                runs, ns = d.get("set_state_btf", d.get("set_state_raw", [0, 0]))
                bpf_us = sum(v[1] for v in d.values()) / max(done, 1) / 1000
                if not args.no_stats:
                    extra = (f"{runs / max(done, 1):>19.2f} {fmt_ns(runs, ns):>7} "
                             f"{bpf_us:>11.2f}")
                other_progs |= set(others_ran(before, after, exporter.ids))
                exporter.stop()
                exporter = None
            else:
                other_progs |= set(others_ran(before, after, set()))
            rates[with_exporter].append(rate)
            cpu_per_conn[with_exporter].append(cpu_us)
            sequence.append((with_exporter, rate, cpu_us))
            print(f"{i + 1:>5} {'with' if with_exporter else 'without':>8} {rate:>8.0f} "
                  f"{done:>11} {failed:>6} {overflows:>9} {cpu_us:>11.1f} {extra}", flush=True)

        extra_phases = {}
        if not args.no_extra and not args.no_stats:
            exporter = Exporter(exporter_path, log_path)
            exporter.scrape()
            # Resets: connects to a port nobody listens on.
            before = prog_stats()
            done, failed, _, _ = run_clients(args.clients, CLOSED_PORT, args.extra_duration,
                                          "refused")
            after = prog_stats()
            extra_phases["refused connects"] = (delta(before, after, exporter.ids),
                                                f"{failed} refused")
            # Losses: randomly dropped SYN-ACKs and server data segments.
            if shutil.which("nft"):
                loss = ns_popen(sys.executable, "-c", SERVER, str(LOSS_PORT), "1", "send",
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                procs.append(loss)
                if loss.stdout.readline().split()[:1] != ["ready"]:
                    raise RuntimeError("loss server failed")
                ns_run("nft", "add table inet tcpq_bpfcost; "
                       "add chain inet tcpq_bpfcost out { type filter hook output priority 0; }; "
                       f"add rule inet tcpq_bpfcost out tcp sport {LOSS_PORT} "
                       "numgen random mod 3 == 0 drop")
                before = prog_stats()
                done, failed, _, _ = run_clients(2, LOSS_PORT, args.extra_duration, "loss",
                                              threads=40)
                after = prog_stats()
                ns_run("nft", "delete table inet tcpq_bpfcost")
                extra_phases["lossy connections"] = (delta(before, after, exporter.ids),
                                                     f"{done} completed, 1/3 of server "
                                                     "segments dropped")
            exporter.scrape()
            exporter.stop()
            exporter = None
        with open(log_path) as f:
            attached = [line.strip() for line in f if "bpf programs" in line]

        # Report. Other load on the machine drifts over the run: each "with"
        # round is compared with the "without" round next to it (ABBA order).
        pairs = [(sequence[k], sequence[k + 1]) for k in range(0, len(sequence) - 1, 2)]
        pairs = [(a, b) if b[0] else (b, a) for a, b in pairs]  # (without, with)
        pair_rate = [w[1] / wo[1] for wo, w in pairs]
        pair_cpu = [wo[2] / w[2] for wo, w in pairs]
        ratio = statistics.median(pair_rate)
        ratio_cpu = statistics.median(pair_cpu)
        med_without = statistics.median(rates[False])
        med_with = statistics.median(rates[True])
        print(f"\nmedian conn/s: without {med_without:.0f}, with {med_with:.0f} "
              f"({med_with / med_without * 100:.1f}%); rounds relative to their arm's median: "
              f"without {min(rates[False]) / med_without * 100:.0f}-"
              f"{max(rates[False]) / med_without * 100:.0f}%, with "
              f"{min(rates[True]) / med_with * 100:.0f}-{max(rates[True]) / med_with * 100:.0f}%")
        low, high, coverage = median_ci(pair_rate)
        print("conn/s with / without, adjacent rounds: "
              + ", ".join(f"{r * 100:.1f}%" for r in pair_rate)
              + f"; median {ratio * 100:.1f}%, {coverage * 100:.0f}% confidence interval "
              f"{low * 100:.1f}-{high * 100:.1f}%")
        cpu_without = statistics.median(cpu_per_conn[False])
        cpu_with = statistics.median(cpu_per_conn[True])
        bpf_us = sum(v[1] for v in cost.values()) / max(connections_with, 1) / 1000
        print(f"CPU time of the storm's processes per connection (median): without "
              f"{cpu_without:.1f} us, with {cpu_with:.1f} us; connections per CPU second, "
              f"with / without, adjacent rounds: "
              + ", ".join(f"{r * 100:.1f}%" for r in pair_cpu)
              + f"; median {ratio_cpu * 100:.1f}%")
        if not args.no_stats:
            print(f"the exporter's programs ran {bpf_us:.2f} us per storm connection: alone, "
                  f"on CPU-bound cores, that predicts "
                  f"{cpu_without / (cpu_without + bpf_us) * 100:.1f}%")
        if attached:
            print("exporter log: " + attached[-1])
        if other_progs:
            print("note: other processes' tcpq programs ran during the storm (both arms): "
                  + ", ".join(sorted(other_progs)))

        verdict, unmeasured, missed = {}, [], []
        if not args.no_stats:
            verdict, unmeasured, missed = report_costs(cost, extra_phases, seed,
                                                       connections_with)
        print("\nRESULT:")
        if args.no_stats:
            cost_line = "not measured (--no-stats)"
        elif missed:
            cost_line = "MISSED for " + ", ".join(missed)
        elif unmeasured:
            cost_line = "met for every program measured"
        else:
            cost_line = "met for every tracepoint program"
        if unmeasured:
            cost_line += "; not measured: " + ", ".join(unmeasured)
        print(f"  BPF cost <= {COST_TARGET_NS:.0f} ns/run: {cost_line}")
        if seed[0] and not args.no_stats:
            print(f"  (seeding walk, iter/tcp, once per namespace at the first scrape: "
                  f"{seed[1] / seed[0]:.0f} ns per socket visited)")
        # Decided only if the confidence interval of the median pair ratio is
        # on one side of the target: on a noisy machine it often is not.
        if coverage < 0.9:
            storm_line = "inconclusive (too few rounds to tell)"
        elif low >= RATIO_TARGET:
            storm_line = "met"
        elif high < RATIO_TARGET:
            storm_line = "MISSED"
        else:
            storm_line = "inconclusive (the noise straddles the target)"
        print(f"  storm >= {RATIO_TARGET * 100:.0f}% of conn/s without the exporter: "
              f"{storm_line} (median of adjacent-round ratios {ratio * 100:.1f}%, "
              f"{coverage * 100:.0f}% CI {low * 100:.1f}-{high * 100:.1f}%; per CPU second "
              f"{ratio_cpu * 100:.1f}%)")
    finally:
        if exporter:
            exporter.stop()
        stop_all(procs, timeout=10)
        # Anything of ours still in the namespace (a child orphaned by a crash).
        pids = subprocess.run(["ip", "netns", "pids", NS], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", NS])
        with open(STATS_SYSCTL, "w") as f:
            f.write(old_stats)
        try:
            os.unlink(log_path)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main()
