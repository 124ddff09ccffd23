"""The bpf collector against the real kernel: connects, failures, resets,
retransmits, SYN-ACK retransmits, socket states and state durations, each case
in fresh network namespaces, whose series hold exactly what the test did
there (a fresh namespace starts at zero, the programs key every event by the
socket's namespace)."""
import collections
import ctypes
import errno
import json
import os
import platform
import struct
import subprocess
import sys
import textwrap
import time
import unittest

from tcpq_testlib import (Exporter, Netns, free_port, main, one, parse_exposition,
                          require_root, select)

# ss -tan state names -> tcpq_sockets{state}.
SS_STATES = {
    "ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
    "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
    "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack", "LISTEN": "listen",
    "CLOSING": "closing",
}
HOOKS = ("inet_sock_set_state", "tcp_retransmit_skb", "tcp_retransmit_synack",
         "tcp_send_reset", "tcp_receive_reset", "iter_tcp", "iter_sk_storage_walk",
         "iter_sk_storage_connections", "iter_sk_storage_listeners")


def deny_syscall(nr):
    """In a child before exec: a seccomp filter that fails syscall `nr` with
    EPERM and allows everything else."""
    libc = ctypes.CDLL(None, use_errno=True)
    ld_nr = struct.pack("HBBI", 0x20, 0, 0, 0)           # ld [0] (syscall number)
    jeq = struct.pack("HBBI", 0x15, 0, 1, nr)           # jeq nr ? next : skip one
    deny = struct.pack("HBBI", 0x06, 0, 0, 0x00050000 | errno.EPERM)  # ret ERRNO
    allow = struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000)  # ret ALLOW
    code = ctypes.create_string_buffer(ld_nr + jeq + deny + allow)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(4, ctypes.cast(code, ctypes.c_void_p))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


# Appended to a workload that has closed all its sockets: the kernel ends a
# close on its own time (the peer's FIN and ACK go through softirq, which
# may be deferred to ksoftirqd), so the script waits until only TIME_WAIT
# sockets are left, i.e. every transition has happened before the scrape.
UNTIL_CLOSED = """
import time as _time
_deadline = _time.monotonic() + 10
while True:
    _states = []
    for _table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(_table) as _f:
            _states += [line.split()[3] for line in _f.readlines()[1:]]
    if all(_state == "06" for _state in _states):
        break
    if _time.monotonic() > _deadline:
        raise SystemExit(f"sockets still closing after 10 s: {_states}")
    _time.sleep(0.01)
"""


def run_py(ns, code, timeout=60, until_closed=False):
    """Runs Python code in the namespace to completion; returns its stdout.
    until_closed: then waits until its sockets are closed (UNTIL_CLOSED)."""
    code = textwrap.dedent(code) + (UNTIL_CLOSED if until_closed else "")
    result = subprocess.run(
        ["ip", "netns", "exec", ns.name, sys.executable, "-c", code],
        capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"workload failed: {result.stderr}")
    return result.stdout


class Holder:
    """Python code run in a namespace that holds its sockets until stdin closes.
    It talks JSON lines: `say(obj)` prints one, `wait()` reads one line."""

    PRELUDE = textwrap.dedent("""\
        import json, socket, sys, time
        def say(**kw):
            print(json.dumps(kw), flush=True)
        def wait():
            return sys.stdin.readline()
        def listen(port, backlog=16):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(backlog)
            return s
        def pair(listener, port):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = listener.accept()
            return c, s
        """)

    def __init__(self, ns, code):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, sys.executable, "-c",
             self.PRELUDE + textwrap.dedent(code)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise AssertionError("holder exited early")
        return json.loads(line)

    def send(self, line="go"):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        self.proc.stdout.close()


def nft(ns, *rules):
    """Adds rules to an input chain of the namespace (created on first use).
    Input, not output: the packets are sent (so the sender counts them) and
    lost on the way in."""
    ns.run("nft", "add table inet tcpqbpf; add chain inet tcpqbpf in "
           "{ type filter hook input priority 0; }")
    for rule in rules:
        ns.run("nft", f"add rule inet tcpqbpf in {rule}")


def ns_series(samples, netns):
    """Every BPF-collector series of one namespace: {(name, labels): value}."""
    names = ("tcpq_sockets", "tcpq_connect_attempts_total",
             "tcpq_connections_opened_total", "tcpq_connect_failures_total",
             "tcpq_retransmits_total", "tcpq_resets_total",
             "tcpq_listener_synack_retransmits_total")
    return {(n, lset): v for (n, lset), v in samples.items()
            if n in names and dict(lset).get("netns") == netns}


def ss_states(ns):
    """Sockets per tcpq state name as `ss -tan` lists them in the namespace."""
    counts = collections.Counter()
    for line in ns.run("ss", "-tanH").splitlines():
        state = line.split()[0]
        if state not in SS_STATES:
            raise AssertionError(f"unexpected ss state {state!r}: {line!r}")
        counts[SS_STATES[state]] += 1
    return {state: counts.get(state, 0) for state in SS_STATES.values()}


def gauge_states(samples, netns):
    return {l["state"]: v for l, v in select(samples, "tcpq_sockets", netns=netns)}


def hist(samples, name, **labels):
    """(count, sum, {le: cumulative}) of one histogram series."""
    buckets = {}
    for l, v in select(samples, name + "_bucket", **labels):
        if set(l) == set(labels) | {"le"}:
            buckets[float(l["le"])] = v
    return (one(samples, name + "_count", **labels), one(samples, name + "_sum", **labels),
            buckets)


class BpfTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def assert_attached(self, samples, *hooks):
        for hook in HOOKS:
            self.assertEqual(one(samples, "tcpq_bpf_program_attached", program=hook),
                             1 if hook in hooks else 0, hook)

    def test_loopback_connections_count_exactly_in_their_namespace_only(self):
        n = 12
        port = free_port()
        with Netns("conn") as a, Netns("other") as b, Exporter() as exporter:
            before = exporter.scrape()
            self.assert_attached(before, *HOOKS)
            self.assertEqual(one(before, "tcpq_collector_success", collector="bpf"), 1)
            other_before = ns_series(before, b.inode)
            self.assertNotEqual(other_before, {})
            run_py(a, f"""
                import socket
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(64)
                for _ in range({n}):
                    c = socket.create_connection(("127.0.0.1", {port}))
                    s, _ = l.accept()
                    c.close(); s.close()
                """)
            after = exporter.scrape()
            for name, labels in (("tcpq_connect_attempts_total", {}),
                                 ("tcpq_connections_opened_total", {"direction": "active"}),
                                 ("tcpq_connections_opened_total", {"direction": "passive"})):
                self.assertEqual(one(before, name, netns=a.inode, **labels), 0, name)
                self.assertEqual(one(after, name, netns=a.inode, **labels), n, name)
            self.assertEqual(one(after, "tcpq_connect_failures_total", netns=a.inode), 0)
            self.assertEqual(one(after, "tcpq_snmp_active_opens_total", netns=a.inode), n)
            # The other namespace's series did not move at all.
            self.assertEqual(ns_series(after, b.inode), other_before)
            self.assertEqual(one(after, "tcpq_collector_success", collector="bpf"), 1)

    def test_connects_to_a_closed_port_fail_and_are_reset(self):
        m = 7
        port = free_port()
        with Netns("refused") as ns, Exporter() as exporter:
            out = run_py(ns, f"""
                import socket
                refused = 0
                for _ in range({m}):
                    c = socket.socket()
                    try:
                        c.connect(("127.0.0.1", {port}))
                    except ConnectionRefusedError:
                        refused += 1
                    c.close()
                print(refused)
                """)
            self.assertEqual(int(out), m)
            samples = exporter.scrape()
            self.assertEqual(one(samples, "tcpq_connect_attempts_total", netns=ns.inode), m)
            self.assertEqual(one(samples, "tcpq_connect_failures_total", netns=ns.inode), m)
            self.assertEqual(one(samples, "tcpq_connections_opened_total", netns=ns.inode,
                                 direction="active"), 0)
            self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode,
                                 direction="received"), m)
            # The kernel answered each SYN with a reset from no socket at all:
            # counted in the namespace the SYN came in on.
            self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode,
                                 direction="sent"), m)
            self.assertEqual(one(samples, "tcpq_snmp_attempt_fails_total", netns=ns.inode), m)
            self.assertEqual(one(samples, "tcpq_snmp_out_rsts_total", netns=ns.inode), m)

    def test_dropped_syn_acks_count_as_synack_and_syn_retransmits(self):
        """Half of the SYN-ACKs are dropped on their way in (at most ten:
        the quota keeps an unlucky connection from timing out): the listener
        retransmits them (on its timer, or answering a retransmitted SYN)
        and the clients retransmit their SYNs. Every such retransmit succeeds
        on the wire, so the two BPF counters add up to the namespace's
        TCPSynRetrans exactly. With 16 connections the chance that no
        SYN-ACK at all is dropped is 2^-16."""
        n = 16
        port = free_port()
        other_port = free_port()
        with Netns("synack") as ns, Exporter() as exporter:
            nft(ns, f"tcp sport {port} tcp flags & (syn | ack) == syn | ack "
                    "numgen random mod 2 == 0 quota until 600 bytes drop")
            run_py(ns, f"""
                import socket, threading
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(64)
                l2 = socket.socket(); l2.bind(("127.0.0.1", {other_port})); l2.listen(8)
                clients = []
                def connect():
                    clients.append(socket.create_connection(("127.0.0.1", {port}), timeout=60))
                threads = [threading.Thread(target=connect) for _ in range({n})]
                for t in threads: t.start()
                for t in threads: t.join()
                assert len(clients) == {n}, len(clients)
                servers = [l.accept()[0] for _ in range({n})]
                # One connection to a listener whose SYN-ACKs pass.
                c = socket.create_connection(("127.0.0.1", {other_port})); s, _ = l2.accept()
                """, timeout=120)
            samples = exporter.scrape()
            syn_retrans = ns.netstat("TCPSynRetrans")
            synack = one(samples, "tcpq_listener_synack_retransmits_total",
                         netns=ns.inode, port=str(port))
            syn_sent = one(samples, "tcpq_retransmits_total", netns=ns.inode,
                           state="syn_sent")
            self.assertGreater(synack, 0)
            self.assertGreater(syn_sent, 0)
            self.assertEqual(synack + syn_sent, syn_retrans)
            self.assertEqual(one(samples, "tcpq_netstat_syn_retrans_total", netns=ns.inode),
                             syn_retrans)
            # Only the listener whose SYN-ACKs were dropped has a series.
            self.assertEqual([l["port"] for l, _ in select(
                samples, "tcpq_listener_synack_retransmits_total", netns=ns.inode)],
                [str(port)])
            self.assertEqual(one(samples, "tcpq_connections_opened_total", netns=ns.inode,
                                 direction="active"), n + 1)

    def compare_with_ss(self, ns, exporter, what):
        """tcpq_sockets equals `ss -tan` at a moment when the kernel's view
        is the same before and after the scrape."""
        for _ in range(50):
            before = ss_states(ns)
            samples = exporter.scrape()
            if ss_states(ns) == before:
                self.assertEqual(gauge_states(samples, ns.inode), before, what)
                return before
            time.sleep(0.1)
        self.fail(f"{what}: sockets kept changing state")

    def test_socket_gauge_equals_ss_before_and_after_exporter_start(self):
        """Sockets in eight states are created before the exporter starts
        (seeded by the iter/tcp walk), more after it (counted by
        transitions), then the first set is closed (transitions of seeded
        sockets). Nothing is half-open: ss lists a request socket as
        SYN-RECV, which tcpq_sockets does not count (full sockets only)."""
        p, p2, pf, pl, pb = (free_port() for _ in range(5))
        with Netns("states") as ns:
            # SYNs to pb are lost: a connect there stays in SYN_SENT.
            nft(ns, f"tcp dport {pb} drop")
            first = Holder(ns, f"""
                l = listen({p})
                held = [x for _ in range(3) for x in pair(l, {p})]       # 6 ESTABLISHED
                c, s = pair(l, {p}); c.shutdown(socket.SHUT_WR)          # FIN_WAIT2 + CLOSE_WAIT
                held += [c, s]
                for _ in range(2):                                       # 2 TIME_WAIT
                    c, s = pair(l, {p}); c.close(); time.sleep(0.05); s.close()
                b = socket.socket(); b.setblocking(False)                # SYN_SENT
                b.connect_ex(("127.0.0.1", {pb}))
                lf = listen({pf}); cf, sf = pair(lf, {pf})
                ll = listen({pl}); cl, sl = pair(ll, {pl}); cl.shutdown(socket.SHUT_WR)
                time.sleep(0.1)
                say(stage=1)
                wait()   # the test now drops everything sent to pf and pl
                cf.close()   # FIN lost: FIN_WAIT1 (and sf stays ESTABLISHED)
                sl.close()   # its FIN gets through, the ACK not: LAST_ACK
                time.sleep(0.2)
                say(ready=True)
                wait()
                """)
            try:
                self.assertEqual(first.read(), {"stage": 1})
                nft(ns, f"tcp dport {pf} drop", f"tcp dport {pl} drop")
                first.send()
                self.assertEqual(first.read(), {"ready": True})
                with Exporter() as exporter:
                    seen = self.compare_with_ss(ns, exporter, "sockets older than the exporter")
                    for state in ("listen", "established", "syn_sent", "fin_wait1", "fin_wait2",
                                  "close_wait", "last_ack", "time_wait"):
                        self.assertGreater(seen[state], 0, state)
                    second = Holder(ns, f"""
                        l = listen({p2})
                        held = [x for _ in range(2) for x in pair(l, {p2})]
                        b = socket.socket(); b.setblocking(False)
                        b.connect_ex(("127.0.0.1", {pb}))
                        time.sleep(0.1)
                        say(ready=True)
                        wait()
                        """)
                    try:
                        self.assertEqual(second.read(), {"ready": True})
                        self.compare_with_ss(ns, exporter, "sockets younger than the exporter")
                        # Closing the older sockets moves them through
                        # FIN_WAIT/CLOSE_WAIT/LAST_ACK to CLOSE or TIME_WAIT;
                        # the pf pair ends in CLOSING and FIN_WAIT1.
                        first.close()
                        seen = self.compare_with_ss(ns, exporter, "older sockets closed")
                        self.assertGreater(seen["closing"], 0)
                    finally:
                        second.close()
                    self.compare_with_ss(ns, exporter, "younger sockets closed")
            finally:
                first.close()

    def test_state_durations_per_namespace_are_exact(self):
        """With --collector.bpf.histogram-netns the histograms of a fresh
        namespace hold exactly its own transitions: k connections held
        200 ms in ESTABLISHED on both ends land in the bucket (0.125, 0.25]
        seconds."""
        k = 5
        port = free_port()
        with Netns("hist") as ns, Exporter("--collector.bpf.histogram-netns") as exporter:
            run_py(ns, f"""
                import socket, time
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(16)
                for _ in range({k}):
                    c = socket.create_connection(("127.0.0.1", {port}))
                    s, _ = l.accept()
                    time.sleep(0.2)
                    c.close()
                    time.sleep(0.01)
                    s.close()
                    time.sleep(0.01)
                l.close()
                """, until_closed=True)
            samples = exporter.scrape()
            count, total, buckets = hist(samples, "tcpq_state_duration_seconds",
                                         netns=ns.inode, state="established")
            self.assertEqual(count, 2 * k)  # client and server side
            self.assertEqual(buckets[0.125], 0)
            self.assertEqual(buckets[0.25], 2 * k)
            self.assertGreaterEqual(total, 2 * k * 0.2)
            self.assertLess(total, 2 * k * 0.25)
            # Every state left, as many times as sockets left it. (Should one
            # be missing, the map failures say whether an insert into a
            # map without preallocation failed, e.g. in softirq.)
            failures = {labels["map"]: value for labels, value in
                        select(samples, "tcpq_bpf_map_update_failures_total") if value}
            expected = {"syn_sent": k, "syn_recv": k, "fin_wait1": k, "fin_wait2": k,
                        "close_wait": k, "last_ack": k, "listen": 1}
            left = {state: hist(samples, "tcpq_state_duration_seconds",
                                netns=ns.inode, state=state)[0] for state in expected}
            self.assertEqual(left, expected, f"map update failures: {failures}")
            count, total, buckets = hist(samples, "tcpq_connect_duration_seconds",
                                         netns=ns.inode)
            self.assertEqual(count, k)
            self.assertLess(total, k * 0.1)  # loopback handshakes
            for name, state in (("tcpq_state_duration_seconds", "established"),
                                ("tcpq_connect_duration_seconds", None)):
                labels = {"netns": ns.inode} | ({"state": state} if state else {})
                count, _, buckets = hist(samples, name, **labels)
                les = sorted(buckets)
                self.assertEqual(len(les), 34)
                self.assertEqual(les[0], 2.0 ** -20)
                self.assertEqual(les[-2], 4096.0)
                self.assertEqual(les[-1], float("inf"))
                values = [buckets[le] for le in les]
                self.assertEqual(values, sorted(values), "buckets are cumulative")
                self.assertEqual(values[-1], count)

    def test_node_wide_histograms_by_default(self):
        """Without the flag the histograms have no netns label and count the
        whole node, where other work may run: the test's connections are a
        lower bound of what lands in their bucket."""
        k = 4
        port = free_port()
        with Netns("nodehist") as ns, Exporter() as exporter:
            before = exporter.scrape()
            run_py(ns, f"""
                import socket, time
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(16)
                pairs = [(socket.create_connection(("127.0.0.1", {port})), l.accept()[0])
                         for _ in range({k})]
                time.sleep(0.2)
                for c, s in pairs:
                    c.close()
                time.sleep(0.01)
                for c, s in pairs:
                    s.close()
                """)
            after = exporter.scrape()
            states = sorted(l["state"] for l, _ in select(
                after, "tcpq_state_duration_seconds_count"))
            self.assertEqual(states, sorted(["established", "syn_sent", "syn_recv", "fin_wait1",
                                             "fin_wait2", "close_wait", "last_ack", "listen",
                                             "closing"]))
            b0 = hist(before, "tcpq_state_duration_seconds", state="established")
            b1 = hist(after, "tcpq_state_duration_seconds", state="established")
            self.assertGreaterEqual((b1[2][0.25] - b1[2][0.125]) - (b0[2][0.25] - b0[2][0.125]),
                                    2 * k)
            self.assertGreaterEqual(b1[0] - b0[0], 2 * k)
            values = [b1[2][le] for le in sorted(b1[2])]
            self.assertEqual(values, sorted(values))
            self.assertEqual(values[-1], b1[0])
            self.assertEqual(select(after, "tcpq_state_duration_seconds_count", netns=ns.inode),
                             [])

    def test_raw_tp_fallback_keeps_the_counters(self):
        """TCPQ_BPF_NO_TP_BTF=1 loads the raw_tp programs, as on a kernel
        whose tp_btf attach fails: the counters stay exact; the socket gauge
        and the histograms need socket storage (tp_btf only) and are absent."""
        n = 3
        port = free_port()
        with Netns("rawtp") as ns, Exporter(env={"TCPQ_BPF_NO_TP_BTF": "1"}) as exporter:
            run_py(ns, f"""
                import socket
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(8)
                for _ in range({n}):
                    c = socket.create_connection(("127.0.0.1", {port})); s, _ = l.accept()
                    c.close(); s.close()
                c = socket.socket()
                try:
                    c.connect(("127.0.0.1", {port + 1}))
                except ConnectionRefusedError:
                    pass
                """)
            samples = exporter.scrape()
        self.assertIn("inet_sock_set_state=raw_tp", exporter.stderr)
        self.assert_attached(samples, *HOOKS)
        self.assertEqual(one(samples, "tcpq_collector_success", collector="bpf"), 1)
        self.assertEqual(one(samples, "tcpq_connect_attempts_total", netns=ns.inode), n + 1)
        self.assertEqual(one(samples, "tcpq_connections_opened_total", netns=ns.inode,
                             direction="passive"), n)
        self.assertEqual(one(samples, "tcpq_connect_failures_total", netns=ns.inode), 1)
        self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode,
                             direction="received"), 1)
        self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode, direction="sent"), 1)
        self.assertEqual(select(samples, "tcpq_sockets"), [])
        self.assertEqual(select(samples, "tcpq_state_duration_seconds_count"), [])

    def test_a_tp_btf_that_does_not_load_falls_back_to_raw_tp_alone(self):
        """TCPQ_BPF_BREAK_TP_BTF gives the tp_btf program of tcp_send_reset a
        program type it cannot load as, so loading the whole object fails, as
        on a kernel without that BTF tracepoint: the loader then tries each
        hook alone and only tcp_send_reset falls back to raw_tp."""
        m = 4
        port = free_port()
        with Netns("fallback") as ns, \
                Exporter(env={"TCPQ_BPF_BREAK_TP_BTF": "tcp_send_reset"}) as exporter:
            run_py(ns, f"""
                import socket
                for _ in range({m}):
                    c = socket.socket()
                    try:
                        c.connect(("127.0.0.1", {port}))
                    except ConnectionRefusedError:
                        pass
                    c.close()
                """)
            samples = exporter.scrape()
        self.assertIn("inet_sock_set_state=tp_btf tcp_retransmit_skb=tp_btf "
                      "tcp_retransmit_synack=tp_btf tcp_send_reset=raw_tp "
                      "tcp_receive_reset=tp_btf iter_tcp=iter", exporter.stderr)
        self.assert_attached(samples, *HOOKS)
        self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode, direction="sent"), m)
        self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode,
                             direction="received"), m)
        self.assertEqual(one(samples, "tcpq_connect_failures_total", netns=ns.inode), m)
        self.assertEqual(len(select(samples, "tcpq_sockets", netns=ns.inode)), 10)

    def test_missing_tracepoint_disables_only_its_metrics(self):
        with Netns("skip") as ns, Exporter(env={"TCPQ_BPF_SKIP": "tcp_receive_reset"}) as exporter:
            samples = exporter.scrape()
        self.assert_attached(samples, *(h for h in HOOKS if h != "tcp_receive_reset"))
        self.assertEqual(one(samples, "tcpq_collector_success", collector="bpf"), 1)
        self.assertEqual(select(samples, "tcpq_resets_total", direction="received"), [])
        self.assertEqual(one(samples, "tcpq_resets_total", netns=ns.inode, direction="sent"), 0)
        self.assertEqual(one(samples, "tcpq_connect_attempts_total", netns=ns.inode), 0)
        self.assertEqual(len(select(samples, "tcpq_sockets", netns=ns.inode)), 10)
        self.assertIn('level=warn msg="some bpf programs not attached"', exporter.stderr)
        self.assertIn("tcp_receive_reset=none", exporter.stderr)

    def test_full_map_is_counted_not_silently_lost(self):
        """TCPQ_BPF_MAX_NETNS=1 bounds the per-namespace map to one entry.
        A first namespace (or any other activity on the node) takes it, so
        every event of the second namespace fails its insert: each is counted
        in tcpq_bpf_map_update_failures_total{map="netns_stats"}, at least
        one per state transition (ten per connection), and nothing crashes."""
        n = 3
        port = free_port()
        with Netns("full1") as first, Netns("full2") as second, \
                Exporter(env={"TCPQ_BPF_MAX_NETNS": "1"}) as exporter:
            connect = f"""
                import socket
                l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(8)
                for _ in range({n}):
                    c = socket.create_connection(("127.0.0.1", {port}))
                    s, _ = l.accept()
                    c.close(); s.close()
                """
            run_py(first, connect)
            before = one(exporter.scrape(), "tcpq_bpf_map_update_failures_total",
                         map="netns_stats")
            run_py(second, connect)
            samples = exporter.scrape()
        failures = one(samples, "tcpq_bpf_map_update_failures_total", map="netns_stats")
        self.assertGreaterEqual(failures - before, 10 * n)
        self.assertEqual(one(samples, "tcpq_connect_attempts_total", netns=second.inode), 0)
        self.assertEqual(one(samples, "tcpq_collector_success", collector="bpf"), 1)
        for name in ("synack_retransmits", "sk_state", "netns_hists"):
            self.assertEqual(one(samples, "tcpq_bpf_map_update_failures_total", map=name),
                             0, name)

    def test_without_bpf_syscall_bpf_is_off_and_the_rest_serves(self):
        """The bpf() system call refused with EPERM by a seccomp filter (what
        a container runtime's default profile does): the exporter logs why
        once, reports the bpf collector failed, and every other collector
        still works."""
        binary = os.environ.get("TCPQ_EXPORTER")
        if not binary:
            self.skipTest("TCPQ_EXPORTER is not set (run through ctest)")
        nr_bpf = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
        if nr_bpf is None:
            self.skipTest(f"the bpf() syscall number of {platform.machine()} is not in the test")
        port = free_port()
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}"],
            stderr=subprocess.PIPE, text=True, preexec_fn=lambda: deny_syscall(nr_bpf))
        try:
            exporter = Exporter()
            exporter.port = port
            deadline = time.monotonic() + 15
            while True:
                try:
                    if exporter.get("/-/ready")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    self.fail("exporter did not start without bpf()")
                time.sleep(0.05)
            samples = exporter.scrape()
            exporter.scrape()
        finally:
            proc.terminate()
            stderr = proc.communicate(timeout=10)[1]
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertEqual(one(samples, "tcpq_collector_success", collector="bpf"), 0)
        for collector in ("netstat", "snmp", "sockdiag", "sysctl"):
            self.assertEqual(one(samples, "tcpq_collector_success", collector=collector), 1)
        self.assertGreater(len(select(samples, "tcpq_netstat_listen_overflows_total")), 0)
        self.assert_attached(samples)
        self.assertEqual(select(samples, "tcpq_connect_attempts_total"), [])
        self.assertEqual(select(samples, "tcpq_sockets"), [])
        bpf_lines = [l for l in stderr.splitlines()
                     if "collector=bpf" in l or 'msg="bpf' in l]
        # Once, when the first scrape fails, with the reason; not per scrape.
        self.assertEqual(len(bpf_lines), 1, stderr)
        self.assertIn('level=warn msg="collector failed" collector=bpf', bpf_lines[0])
        self.assertIn("BPF is off", bpf_lines[0])
        self.assertIn("Operation not permitted", bpf_lines[0])

if __name__ == "__main__":
    main()
