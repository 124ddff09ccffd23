"""Faults the exporter must survive without losing the metrics it can still
read: no capabilities (BPF off, other namespaces closed) and /proc/net files
that cannot be opened. Each runs the real binary against the real kernel.
Two more faults are tested where their subject lives: a namespace deleted
during scrapes (test_exporter.py) and a BPF map filled to its bound
(test_bpf.py)."""
import os
import shutil
import socket
import unittest

from tcpq_testlib import Exporter, Netns, capabilities, main, one, require_root, select

# Capabilities the exporter uses beyond a plain process's: CAP_BPF and
# CAP_PERFMON load and attach the programs (CAP_SYS_ADMIN also implies
# both), CAP_SYS_ADMIN enters other network namespaces.
DROPPED = ("cap_bpf", "cap_perfmon", "cap_sys_admin")
CAP_BITS = {"cap_sys_admin": 21, "cap_perfmon": 38, "cap_bpf": 39}
NON_BPF = ("netstat", "snmp", "sockdiag", "sysctl")


def capsh_wrapper():
    if shutil.which("capsh") is None:
        raise unittest.SkipTest("needs capsh (Debian package libcap2-bin)")
    # capsh drops the capabilities from the bounding set, then bash execs the
    # exporter ("$0" and "$@" are the binary and its flags).
    return ["capsh", f"--drop={','.join(DROPPED)}", "--", "-c", 'exec "$0" "$@"']


class HostListener:
    """A listener in the test's own (the host's) namespace, backlog 7."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(7)
        self.port = str(self.sock.getsockname()[1])
        self.netns = str(os.stat("/proc/self/ns/net").st_ino)
        return self

    def __exit__(self, *exc):
        self.sock.close()


class FaultTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def assert_host_listener(self, samples, listener):
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit",
                             netns=listener.netns, addr="127.0.0.1", port=listener.port), 7)

    def test_without_capabilities_only_the_own_namespace_is_read(self):
        """--netns=host, capabilities dropped: BPF is off with one clear log
        line, every other collector succeeds."""
        with HostListener() as listener, \
                Exporter("--netns=host", wrapper=capsh_wrapper()) as exporter:
            caps = capabilities(exporter.proc.pid)
            for cap in DROPPED:
                self.assertEqual(caps >> CAP_BITS[cap] & 1, 0, f"{cap} was not dropped")
            samples = exporter.scrape()
            exporter.scrape()
        self.assertEqual(one(samples, "tcpq_collector_success", collector="bpf"), 0)
        for collector in NON_BPF:
            self.assertEqual(one(samples, "tcpq_collector_success", collector=collector), 1,
                             collector)
        self.assert_host_listener(samples, listener)
        self.assertGreater(len(select(samples, "tcpq_netstat_listen_overflows_total",
                                      netns=listener.netns)), 0)
        self.assertEqual(select(samples, "tcpq_connect_attempts_total"), [])
        bpf_lines = [l for l in exporter.stderr.splitlines() if "collector=bpf" in l]
        self.assertEqual(len(bpf_lines), 1, exporter.stderr)  # once, not per scrape
        self.assertIn("Operation not permitted", bpf_lines[0])

    def test_without_capabilities_other_namespaces_fail_loudly_not_the_host(self):
        """Default --netns=all without CAP_SYS_ADMIN: the other namespaces
        cannot be entered, the collectors say so (naming the capability),
        and the exporter's own namespace is still served."""
        with HostListener() as listener, Netns("nocaps") as ns, \
                Exporter(wrapper=capsh_wrapper()) as exporter:
            samples = exporter.scrape()
        self.assert_host_listener(samples, listener)
        self.assertEqual(select(samples, "tcpq_sysctl_net_core_somaxconn", netns=ns.inode), [])
        self.assertEqual(len(select(samples, "tcpq_sysctl_net_core_somaxconn")), 1)
        for collector in NON_BPF:
            self.assertEqual(one(samples, "tcpq_collector_success", collector=collector), 0,
                             collector)
        self.assertIn("needs CAP_SYS_ADMIN", exporter.stderr)

    def deny_open(self, pattern):
        lib = os.environ.get("TCPQ_DENY_OPEN_LIB")
        if not lib:
            self.skipTest("TCPQ_DENY_OPEN_LIB is not set (run through ctest)")
        # An ASan build checks that its runtime is loaded first; the
        # preloaded library is loaded before it on purpose.
        asan = os.environ.get("ASAN_OPTIONS", "")
        return {"LD_PRELOAD": lib, "TCPQ_DENY_OPEN": pattern,
                "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0".lstrip(":")}

    def test_unreadable_netstat_fails_only_the_netstat_collector(self):
        with HostListener() as listener, Netns("deny") as ns, \
                Exporter(env=self.deny_open("/net/netstat")) as exporter:
            samples = exporter.scrape()
            exporter.scrape()
        self.assertEqual(one(samples, "tcpq_collector_success", collector="netstat"), 0)
        self.assertEqual(select(samples, "tcpq_netstat_listen_overflows_total"), [])
        for collector in ("bpf", "snmp", "sockdiag", "sysctl"):
            self.assertEqual(one(samples, "tcpq_collector_success", collector=collector), 1,
                             collector)
        self.assert_host_listener(samples, listener)
        self.assertEqual(len(select(samples, "tcpq_snmp_active_opens_total",
                                    netns=ns.inode)), 1)
        netstat_lines = [l for l in exporter.stderr.splitlines() if "collector=netstat" in l]
        self.assertEqual(len(netstat_lines), 1, exporter.stderr)
        self.assertIn("Permission denied", netstat_lines[0])

    def test_unreadable_proc_net_fails_its_readers_and_keeps_the_rest(self):
        """Every /proc/thread-self/net file denied: netstat and snmp fail,
        BPF loses only the TIME_WAIT count it reads there, sock_diag and the
        sysctls are untouched."""
        with HostListener() as listener, \
                Exporter(env=self.deny_open("/thread-self/net/")) as exporter:
            samples = exporter.scrape()
        for collector, success in (("netstat", 0), ("snmp", 0), ("bpf", 0),
                                   ("sockdiag", 1), ("sysctl", 1)):
            self.assertEqual(one(samples, "tcpq_collector_success", collector=collector),
                             success, collector)
        self.assert_host_listener(samples, listener)
        self.assertEqual(select(samples, "tcpq_snmp_active_opens_total"), [])
        self.assertEqual(len(select(samples, "tcpq_connect_attempts_total",
                                    netns=listener.netns)), 1)
        self.assertEqual(select(samples, "tcpq_sockets", netns=listener.netns,
                                state="time_wait"), [])
        self.assertEqual(len(select(samples, "tcpq_sockets", netns=listener.netns,
                                    state="listen")), 1)


if __name__ == "__main__":
    main()
