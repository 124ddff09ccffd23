"""Listener metrics (sockdiag) and kernel counters (netstat, snmp, sysctl)
against the real kernel, each case in fresh network namespaces so that the
values are exactly what that namespace did."""
import subprocess
import time
import unittest

from tcpq_testlib import (Exporter, Netns, free_port, main, one, require_root, select,
                          start_workload, stop_workload, wait_stable)

# The series of the sockdiag collector.
LISTENER_METRICS = ("tcpq_listener_sockets", "tcpq_listener_accept_queue_length",
                    "tcpq_listener_accept_queue_limit", "tcpq_listener_drops_total",
                    "tcpq_listener_info")


class ListenerTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def test_overflow_matches_kernel_counters_under_its_own_netns(self):
        port = free_port()
        with Netns("ovf") as ns, Exporter() as exporter:
            ns.workload("overflow", "--port", port, "--backlog", 2, "--connects", 20)

            def kernel_view():
                return (ns.ss_listener(port), ns.netstat("ListenOverflows"),
                        ns.netstat("ListenDrops"))

            # The kernel's view before and after the scrape must agree, so
            # the scrape saw exactly that moment.
            for _ in range(20):
                before = wait_stable(kernel_view)
                samples = exporter.scrape()
                if kernel_view() == before:
                    break
            else:
                self.fail("kernel counters kept moving during every scrape")
            (recv_q, send_q, drops), overflows, listen_drops = before
            labels = {"netns": ns.inode, "addr": "127.0.0.1", "port": str(port)}
            self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit", **labels), 2)
            self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **labels), 3)
            self.assertEqual((recv_q, send_q), (3, 2))
            self.assertEqual(one(samples, "tcpq_listener_sockets", **labels), 1)
            self.assertGreater(drops, 0)
            self.assertEqual(one(samples, "tcpq_listener_drops_total", **labels), drops)
            self.assertGreater(overflows, 0)
            self.assertEqual(one(samples, "tcpq_netstat_listen_overflows_total",
                                 netns=ns.inode), overflows)
            self.assertEqual(one(samples, "tcpq_netstat_listen_drops_total",
                                 netns=ns.inode), listen_drops)
            # The listener exists only in its own namespace's series.
            others = [l for l, _ in select(samples, "tcpq_listener_accept_queue_length",
                                           port=str(port)) if l["netns"] != ns.inode]
            self.assertEqual(others, [])
            # A fresh namespace: its counters are this test's and nothing else.
            self.assertEqual(one(samples, "tcpq_snmp_passive_opens_total", netns=ns.inode), 3)

    def test_same_port_in_two_namespaces_gives_two_series(self):
        port = free_port()
        with Netns("a") as a, Netns("b") as b, Exporter() as exporter:
            a.workload("listen", "--port", port, "--backlog", 3)
            b.workload("listen", "--port", port, "--backlog", 5)
            samples = exporter.scrape()
            series = {l["netns"]: v for l, v in select(
                samples, "tcpq_listener_accept_queue_limit", port=str(port))}
            self.assertEqual(series, {a.inode: 3, b.inode: 5})

    def test_reuseport_group_is_one_series(self):
        port = free_port()
        with Netns("rp") as ns, Exporter() as exporter:
            ns.workload("listen", "--port", port, "--backlog", 4, "--sockets", 2)
            samples = exporter.scrape()
            labels = {"netns": ns.inode, "port": str(port)}
            self.assertEqual(len(select(samples, "tcpq_listener_sockets", **labels)), 1)
            self.assertEqual(one(samples, "tcpq_listener_sockets", **labels), 2)
            self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit", **labels), 8)

    def test_ipv6_listeners_print_addresses_like_ss(self):
        port = free_port()
        with Netns("v6") as ns, Exporter() as exporter:
            ns.workload("listen", "--addr", "::1", "--port", port, "--backlog", 6)
            ns.workload("listen", "--addr", "::", "--port", port + 1, "--backlog", 7)
            samples = exporter.scrape()
            self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit",
                                 netns=ns.inode, addr="::1", port=str(port)), 6)
            self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit",
                                 netns=ns.inode, addr="::", port=str(port + 1)), 7)

    def test_listeners_read_from_bpf_are_what_sock_diag_says(self):
        """From a namespace's second scrape on (the first seeds it), its
        listeners come from one BPF pass over every namespace's listening
        sockets, not a sock_diag dump of its own. The series must be exactly
        those of an exporter with BPF off (a dump per namespace): for a
        listener older than the exporter (the seeding walk marked it), ones
        made after (marked as they entered LISTEN), an overflowing one with
        drops, an SO_REUSEPORT group, IPv6, and none for one closed since.
        Both exporters read only their own namespace (--netns=host), so
        tcpq_netns_listeners_from_bpf is exact whatever else runs."""
        ports = set()
        while len(ports) < 6:
            ports.add(free_port())
        older, overflowing, group, v6, v6_any, closed = sorted(ports)
        workloads = [start_workload(["listen", "--port", older, "--backlog", 5])]

        def mine(samples):
            return sorted((name, sorted(labels.items()), value)
                          for name in LISTENER_METRICS
                          for labels, value in select(samples, name)
                          if int(labels.get("port", 0)) in ports)
        try:
            with Exporter("--netns=host") as bpf, \
                    Exporter("--netns=host", "--no-collector.bpf") as diag:
                self.assertEqual(one(bpf.scrape(), "tcpq_netns_listeners_from_bpf"), 0)
                for args in (["overflow", "--port", overflowing, "--backlog", 2,
                              "--connects", 20],
                             ["listen", "--port", group, "--backlog", 4, "--sockets", 2],
                             ["listen", "--addr", "::1", "--port", v6, "--backlog", 6],
                             ["listen", "--addr", "::", "--port", v6_any, "--backlog", 7]):
                    workloads.append(start_workload(args))
                stop_workload(start_workload(["listen", "--port", closed]))
                # The same kernel state before and after the other exporter's
                # scrape, so both saw exactly that moment.
                for _ in range(20):
                    before = bpf.scrape()
                    dumped = diag.scrape()
                    after = bpf.scrape()
                    if mine(before) == mine(after):
                        break
                else:
                    self.fail("the listeners kept changing during every scrape")
                self.assertEqual(one(after, "tcpq_netns_listeners_from_bpf"), 1)
                self.assertEqual(one(dumped, "tcpq_netns_listeners_from_bpf"), 0)
                self.assertEqual(mine(after), mine(dumped))
                # And what they agree on is what the kernel has.
                limits = {int(l["port"]): v for l, v in
                          select(after, "tcpq_listener_accept_queue_limit")
                          if int(l["port"]) in ports}
                self.assertEqual(limits, {older: 5, overflowing: 2, group: 8, v6: 6,
                                          v6_any: 7})
                self.assertEqual(one(after, "tcpq_listener_accept_queue_length",
                                     port=str(overflowing)), 3)
                self.assertGreater(one(after, "tcpq_listener_drops_total",
                                       port=str(overflowing)), 0)
                self.assertEqual(one(after, "tcpq_listener_sockets", port=str(group)), 2)
                self.assertEqual(one(after, "tcpq_listener_info", addr="::",
                                     port=str(v6_any), process="python3"), 1)
        finally:
            for p in workloads:
                stop_workload(p)

    def test_namespace_files_read_from_bpf_are_what_the_files_say(self):
        """From a namespace's second scrape on (the first reads its files and
        anchors it), its Tcp and TcpExt counters, queue sysctls and TIME_WAIT
        count come from one BPF pass over every namespace's struct net, not
        its /proc/net/snmp, netstat, sockstat and /proc/sys/net files. Every
        TcpExt field (--collector.netstat.fields=.*, so also the ones the
        kernel names unlike their entries: TW, PAWSActive, ...) must be
        exactly what an exporter with BPF off reads from the files, after
        traffic that moved many of them, and what the files say."""
        port = free_port()
        everything = "--collector.netstat.fields=.*"
        sysctls = {"net.core.somaxconn": 77, "net.ipv4.tcp_max_syn_backlog": 333,
                   "net.ipv4.tcp_syncookies": 2, "net.ipv4.tcp_abort_on_overflow": 1,
                   "net.ipv4.tcp_synack_retries": 3, "net.ipv4.tcp_syn_retries": 4}
        # Three connections the client closes first: three TIME_WAIT sockets.
        time_wait = ("import socket\n"
                     f"l = socket.create_server(('127.0.0.1', {port + 2}))\n"
                     "for _ in range(3):\n"
                     f"    c = socket.create_connection(('127.0.0.1', {port + 2}))\n"
                     "    s, _ = l.accept(); c.close(); s.recv(1); s.close()\n")

        def state(samples, inode):
            return sorted((name, sorted(labels), value)
                          for (name, labels), value in samples.items()
                          if dict(labels).get("netns") == inode and (
                              name.startswith(("tcpq_netstat_", "tcpq_snmp_", "tcpq_sysctl_"))
                              or (name == "tcpq_sockets"
                                  and dict(labels)["state"] == "time_wait")))
        # What an exporter with BPF off has too: not tcpq_sockets.
        def files_state(samples, inode):
            return [s for s in state(samples, inode) if s[0] != "tcpq_sockets"]
        with Netns("mibs") as ns, Exporter(everything) as bpf, \
                Exporter(everything, "--no-collector.bpf") as files:
            first = bpf.scrape()  # reads the files, anchors the namespace
            ns.run("sysctl", "-qw", *(f"{k}={v}" for k, v in sysctls.items()))
            ns.workload("overflow", "--port", port, "--backlog", 2, "--connects", 20)
            stop_workload(ns.workload("churn", "--port", port + 1))
            ns.run("python3", "-c", time_wait)
            for _ in range(20):
                before = bpf.scrape()
                read = files.scrape()
                after = bpf.scrape()
                if state(before, ns.inode) == state(after, ns.inode):
                    break
            else:
                self.fail("the namespace's counters kept changing during every scrape")
            self.assertGreaterEqual(one(after, "tcpq_netns_read_from_bpf"), 1)
            self.assertEqual(one(read, "tcpq_netns_read_from_bpf"), 0)
            ours = files_state(after, ns.inode)
            self.assertEqual(ours, files_state(read, ns.inode))
            self.assertEqual([name for name, _, _ in state(after, ns.inode)],
                             [name for name, _, _ in state(first, ns.inode)])
            tcp_ext = ns.run("cat", "/proc/net/netstat").splitlines()[0].split()[1:]
            # + the 10 Tcp fields and the sysctls
            self.assertEqual(len(ours), len(tcp_ext) + 10 + len(sysctls))
            # And what they agree on is what the namespace's files say.
            for field, metric in (("ListenOverflows", "listen_overflows"),
                                  ("ListenDrops", "listen_drops"),
                                  ("TW", "tw"), ("TCPAbortOnClose", "abort_on_close")):
                self.assertEqual(one(after, f"tcpq_netstat_{metric}_total", netns=ns.inode),
                                 ns.netstat(field), field)
            self.assertGreater(one(after, "tcpq_netstat_listen_overflows_total",
                                   netns=ns.inode), 0)
            snmp = ns.run("cat", "/proc/net/snmp").splitlines()
            tcp = [line.split()[1:] for line in snmp if line.startswith("Tcp:")]
            kernel = dict(zip(tcp[0], (float(v) for v in tcp[1])))
            for field, metric in (("ActiveOpens", "tcpq_snmp_active_opens_total"),
                                  ("PassiveOpens", "tcpq_snmp_passive_opens_total"),
                                  ("OutRsts", "tcpq_snmp_out_rsts_total"),
                                  ("CurrEstab", "tcpq_snmp_curr_estab")):
                self.assertEqual(one(after, metric, netns=ns.inode), kernel[field], field)
            self.assertGreater(kernel["ActiveOpens"], 20)
            for name, value in sysctls.items():
                self.assertEqual(one(after, "tcpq_sysctl_" + name.replace(".", "_"),
                                     netns=ns.inode), value, name)
            # TIME_WAIT, which only the bpf collector exports: sockstat's tw.
            tcp = ns.run("cat", "/proc/net/sockstat").split("TCP:")[1].split("\n")[0].split()
            tw = float(dict(zip(tcp[::2], tcp[1::2]))["tw"])
            self.assertGreaterEqual(tw, 3)
            self.assertEqual(one(after, "tcpq_sockets", netns=ns.inode, state="time_wait"), tw)
            self.assertEqual(one(first, "tcpq_sockets", netns=ns.inode, state="time_wait"), 0)

    def test_sysctls_are_per_namespace(self):
        with Netns("sys") as ns, Exporter() as exporter:
            ns.run("sysctl", "-qw", "net.core.somaxconn=77", "net.ipv4.tcp_synack_retries=3")
            samples = exporter.scrape()
            self.assertEqual(one(samples, "tcpq_sysctl_net_core_somaxconn", netns=ns.inode), 77)
            self.assertEqual(one(samples, "tcpq_sysctl_net_ipv4_tcp_synack_retries",
                                 netns=ns.inode), 3)
            for name in ("tcp_max_syn_backlog", "tcp_syncookies", "tcp_abort_on_overflow",
                         "tcp_syn_retries"):
                want = float(ns.run("sysctl", "-n", f"net.ipv4.{name}"))
                self.assertEqual(one(samples, f"tcpq_sysctl_net_ipv4_{name}",
                                     netns=ns.inode), want, name)
            # The exporter keeps the files open between scrapes: a change
            # must still show in the next one.
            ns.run("sysctl", "-qw", "net.core.somaxconn=78")
            self.assertEqual(one(exporter.scrape(), "tcpq_sysctl_net_core_somaxconn",
                                 netns=ns.inode), 78)

    def reuse_inode(self, old_inode, check):
        """Makes namespaces until one gets `old_inode` (the kernel hands a
        freed namespace's inode number to the next one) and calls
        check(new) in it; fails if none does, i.e. the old one was never
        freed."""
        for _ in range(50):
            with Netns("reuse-new") as new:
                if new.inode != old_inode:
                    time.sleep(0.1)  # the old one is still being freed
                    continue
                check(new)
                return
        self.fail(f"no new namespace reused inode {old_inode} in 50 tries")

    def test_a_new_namespace_reusing_an_inode_shows_its_own_sysctls(self):
        """The sysctl files kept open for a deleted namespace must not be
        read for a new one with the same inode number (nor fail the
        collector). Only the sysctl collector runs, whose files do not hold a
        namespace. Discovery holds every namespace it found until the first
        scrape that no longer finds it, so that scrape comes before the
        reuse."""
        others = [f"--no-collector.{c}" for c in ("bpf", "netstat", "snmp", "sockdiag")]
        with Exporter(*others) as exporter:
            with Netns("reuse-old") as old:
                old.run("sysctl", "-qw", "net.core.somaxconn=77")
                self.assertEqual(one(exporter.scrape(), "tcpq_sysctl_net_core_somaxconn",
                                     netns=old.inode), 77)
            self.assertEqual(select(exporter.scrape(), "tcpq_sysctl_net_core_somaxconn",
                                    netns=old.inode), [])

            def check(new):
                new.run("sysctl", "-qw", "net.core.somaxconn=55")
                samples = exporter.scrape()
                self.assertEqual(one(samples, "tcpq_sysctl_net_core_somaxconn",
                                     netns=new.inode), 55)
                self.assertEqual(one(samples, "tcpq_collector_success",
                                     collector="sysctl"), 1)
            self.reuse_inode(old.inode, check)

    def test_a_deleted_namespace_is_released_by_the_next_scrape(self):
        """The files every collector keeps open hold a namespace only until
        the first scrape that no longer finds it: after that scrape the
        kernel frees it (and may hand its inode number to a new one)."""
        with Exporter() as exporter:
            with Netns("release-old") as old:
                samples = exporter.scrape()
                self.assertEqual(one(samples, "tcpq_netns_info", netns=old.inode), 1)
            self.assertEqual(select(exporter.scrape(), "tcpq_netns_info", netns=old.inode),
                             [])

            def check(new):
                new.run("sysctl", "-qw", "net.core.somaxconn=55")
                samples = exporter.scrape()
                self.assertEqual(one(samples, "tcpq_sysctl_net_core_somaxconn",
                                     netns=new.inode), 55)
                for collector in ("bpf", "netstat", "snmp", "sockdiag", "sysctl"):
                    self.assertEqual(one(samples, "tcpq_collector_success",
                                         collector=collector), 1, collector)
            self.reuse_inode(old.inode, check)

    def test_synqueue_counts_half_open_connections(self):
        port = free_port()
        with Netns("syn") as ns, Exporter("--collector.synqueue") as exporter:
            # Drop every SYN-ACK leaving the server: the clients never answer,
            # so each connection stays half-open (SYN_RECV) on the listener.
            ns.run("nft", "add table inet tcpq; add chain inet tcpq out "
                   "{ type filter hook output priority 0; }; add rule inet tcpq out "
                   f"tcp sport {port} tcp flags & (syn | ack) == syn | ack drop")
            ns.workload("halfopen", "--port", port, "--backlog", 64, "--connects", 5)
            ss_count = len(ns.run("ss", "-tnH", "state", "syn-recv").splitlines())
            samples = exporter.scrape()
            self.assertEqual(ss_count, 5)
            self.assertEqual(one(samples, "tcpq_listener_syn_queue_length", netns=ns.inode,
                                 addr="127.0.0.1", port=str(port)), 5)
            self.assertEqual(one(samples, "tcpq_collector_success", collector="synqueue"), 1)

    def test_synqueue_is_off_by_default(self):
        with Exporter() as exporter:
            samples = exporter.scrape()
            self.assertEqual(select(samples, "tcpq_listener_syn_queue_length"), [])
            self.assertEqual(select(samples, "tcpq_collector_success", collector="synqueue"), [])


if __name__ == "__main__":
    main()
