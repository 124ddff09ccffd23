"""The sockets collector and GET /connections against the real kernel, in
fresh network namespaces: peers per listener, the oldest socket per state,
the oldest accept-queue wait, and the connections endpoint's filters, with
exact expectations (a fresh namespace holds only what the test made)."""
import ipaddress
import json
import re
import time
import unittest

from tcpq_testlib import Exporter, Netns, free_port, main, one, require_root, select

INTERVAL = 1.0  # --collector.sockets.interval in these tests, seconds
FLAGS = (f"--collector.sockets.interval={INTERVAL:g}s",)


def wait_for(exporter, check, timeout=20):
    """Scrapes until check(samples) returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        samples = exporter.scrape()
        last = check(samples)
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s (last: {last})")


def walked_after(exporter, moment):
    """Scrapes until a walk that started after `moment` (time.time()) is
    served; returns its samples."""
    def check(samples):
        end = select(samples, "tcpq_socket_walk_timestamp_seconds")
        duration = select(samples, "tcpq_socket_walk_duration_seconds")
        if end and duration and end[0][1] - duration[0][1] > moment:
            return samples
        return None
    return wait_for(exporter, check)


class SocketsTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def test_peers_of_one_listener(self):
        port = free_port()
        with Netns("peers") as ns:
            # 25 clients from 127.0.0.2 and 3 from 127.0.0.3, all accepted
            # and held; made before the exporter starts (seeded sockets).
            ns.workload("serve", "--port", port, "--from", "127.0.0.2:25",
                        "--from", "127.0.0.3:3")
            with Exporter(*FLAGS) as exporter:
                labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
                samples = wait_for(exporter, lambda s: select(
                    s, "tcpq_listener_peers", **labels) and s)
                self.assertEqual(one(samples, "tcpq_listener_peers", **labels), 2)
                self.assertEqual(
                    one(samples, "tcpq_listener_peer_connections_max", **labels), 25)
                top = select(samples, "tcpq_listener_top_peer_connections", **labels)
                self.assertEqual([(d["peer"], v) for d, v in top], [("127.0.0.2", 25)])
                self.assertEqual(
                    one(samples, "tcpq_listener_accept_queue_oldest_seconds", **labels), 0)
                # Only the listener: the clients' sockets are not a listener's.
                self.assertEqual(len(select(samples, "tcpq_listener_peers",
                                            netns=ns.inode)), 1)
                self.assertEqual(
                    one(samples, "tcpq_collector_success", collector="sockets"), 1)
                self.assertGreaterEqual(
                    one(samples, "tcpq_socket_walk_sockets"), 1 + 2 * 28)

    def test_top_peers_flags(self):
        port = free_port()
        with Netns("toppeers") as ns:
            ns.workload("serve", "--port", port, "--from", "127.0.0.2:4",
                        "--from", "127.0.0.3:4", "--from", "127.0.0.4:2",
                        "--from", "127.0.0.5:1")
            with Exporter(*FLAGS, "--collector.sockets.top-peers=2",
                          "--collector.sockets.peer-min-connections=2") as exporter:
                labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
                samples = wait_for(exporter, lambda s: select(
                    s, "tcpq_listener_peers", **labels) and s)
                self.assertEqual(one(samples, "tcpq_listener_peers", **labels), 4)
                top = select(samples, "tcpq_listener_top_peer_connections", **labels)
                # A tie at 4: the lowest address first; at most 2.
                self.assertEqual(sorted((d["peer"], v) for d, v in top),
                                 [("127.0.0.2", 4), ("127.0.0.3", 4)])

    def assert_age_grows(self, exporter, started, metric, **labels):
        """`metric` is an age as of its walk: read from the first walk after
        `started` and from one 3 s later, it grew by the time between the
        reads, give or take one interval (plus the time to scrape). Returns
        both scrapes."""
        first = walked_after(exporter, started)
        t1 = time.monotonic()
        age1 = one(first, metric, **labels)
        self.assertGreater(age1, 0)
        time.sleep(3)
        second = walked_after(exporter, time.time() - 0.05)
        t2 = time.monotonic()
        age2 = one(second, metric, **labels)
        self.assertAlmostEqual(age2 - age1, t2 - t1, delta=INTERVAL + 0.5)
        return first, second

    def test_close_wait_age_grows_with_wall_time(self):
        port = free_port()
        with Netns("closewait") as ns, Exporter(*FLAGS) as exporter:
            exporter.scrape()  # seeds the namespace
            ns.workload("closewait", "--port", port, "--from", "127.0.0.1:3")
            _, second = self.assert_age_grows(
                exporter, time.time(), "tcpq_sockets_oldest_seconds",
                netns=ns.inode, state="close_wait")
            self.assertEqual(
                one(second, "tcpq_sockets_oldest_seconds", netns=ns.inode,
                    state="syn_sent"), 0)

    def test_accept_queue_wait_grows_while_length_stays(self):
        port = free_port()
        idle = free_port()
        with Netns("noaccept") as ns, Exporter(*FLAGS) as exporter:
            exporter.scrape()
            ns.workload("noaccept", "--port", port, "--backlog", 16,
                        "--from", "127.0.0.1:5")
            ns.workload("listen", "--port", idle)
            labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
            first, second = self.assert_age_grows(
                exporter, time.time(), "tcpq_listener_accept_queue_oldest_seconds",
                **labels)
            for samples in (first, second):
                self.assertEqual(
                    one(samples, "tcpq_listener_accept_queue_length", **labels), 5)
            self.assertEqual(one(second, "tcpq_listener_accept_queue_oldest_seconds",
                                 netns=ns.inode, addr="127.0.0.1", port=str(idle)), 0)
            # Queued connections are the peer's established connections too.
            self.assertEqual(one(second, "tcpq_listener_peer_connections_max", **labels), 5)

    def test_queue_becoming_non_empty_wakes_the_walk(self):
        port = free_port()
        with Netns("wake") as ns, Exporter("--collector.sockets.interval=1h") as exporter:
            exporter.scrape()  # seeds, wakes the first covering walk
            labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
            ns.workload("noaccept", "--port", port, "--from", "127.0.0.1:2")
            # With an hour between walks, only the scrapes' wake-ups can
            # make a walk see the queue.
            samples = wait_for(exporter, lambda s: [
                v for _, v in select(s, "tcpq_listener_accept_queue_oldest_seconds",
                                     **labels) if v > 0] and s)
            self.assertEqual(one(samples, "tcpq_listener_peers", **labels), 1)


def ss_truth(ns, first_port, ports):
    """From `ss` in the namespace: {port: {peer address: established
    connections}} of the listeners on ports first_port.. (accepted or not),
    and the set of those ports with a non-empty accept queue."""
    peers = {port: {} for port in range(first_port, first_port + ports)}
    for line in ns.run("ss", "-tanH", "state", "established").splitlines():
        _, _, local, peer = line.split()
        port = int(local.rsplit(":", 1)[1])
        if port in peers:
            address = peer.rsplit(":", 1)[0]
            peers[port][address] = peers[port].get(address, 0) + 1
    queued = set()
    for line in ns.run("ss", "-tlnH").splitlines():
        fields = line.split()
        port = int(fields[3].rsplit(":", 1)[1])
        if port in peers and int(fields[1]) > 0:
            queued.add(port)
    return peers, queued


class WalkRestartTest(unittest.TestCase):
    """The kernel stops a BPF iterator at the end of every read() that
    returns bytes and resumes it by position in the storage map's bucket.
    The test seam TCPQ_BPF_WALK_READ_SIZE makes the walk write a record's
    worth of filler per socket and read it that many bytes at a time, so
    that it stops there; every aggregate must still count each socket once
    (a socket the kernel shows again after its output overflowed the
    read, or that a shift of the bucket brings round again, included)."""

    FIRST_PORT = 20000  # below the ephemeral ports: only listeners use them
    PORTS = 600         # more listeners than 8 pages of 64-byte records

    def setUp(self):
        require_root(self)

    def check_exact(self, read_size, churn=False):
        with Netns("restarts") as ns, Netns("churn") as other:
            ns.workload("listeners", "--port", self.FIRST_PORT, "--ports", self.PORTS)
            if churn:
                other.workload("churn", "--port", self.FIRST_PORT)
            peers, queued = ss_truth(ns, self.FIRST_PORT, self.PORTS)
            with Exporter(*FLAGS, "--collector.sockets.top-peers=3",
                          "--collector.sockets.peer-min-connections=1",
                          "--log.level=debug",
                          env={"TCPQ_BPF_WALK_READ_SIZE": str(read_size)}) as exporter:
                wait_for(exporter, lambda s: len(select(
                    s, "tcpq_listener_peers", netns=ns.inode)) == self.PORTS)
                samples = walked_after(exporter, time.time())
            for port, by_address in peers.items():
                labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
                self.assertEqual(one(samples, "tcpq_listener_peers", **labels),
                                 len(by_address), port)
                self.assertEqual(
                    one(samples, "tcpq_listener_peer_connections_max", **labels),
                    max(by_address.values()), port)
                top = sorted(by_address.items(), key=lambda kv: (
                    -kv[1], ipaddress.ip_address(kv[0])))[:3]
                self.assertEqual(
                    sorted((d["peer"], v) for d, v in select(
                        samples, "tcpq_listener_top_peer_connections", **labels)),
                    sorted(top), port)
                waited = one(samples, "tcpq_listener_accept_queue_oldest_seconds", **labels)
                self.assertEqual(waited > 0, port in queued, port)
            self.assertEqual(len(select(samples, "tcpq_listener_peers", netns=ns.inode)),
                             self.PORTS)
        # The seam did stop the walks: the passes' log lines count the stops
        # (none in a pass before the namespace was seeded).
        stops = [int(m) for m in re.findall(r'msg="socket walk" .*? stops=(\d+)',
                                            exporter.stderr)]
        self.assertGreater(max(stops, default=0), 0)
        return stops

    def test_exact_when_every_socket_stops_the_walk(self):
        """A 64-byte read: the kernel stops after each socket and finds its
        place again by counting from the bucket's head."""
        stops = self.check_exact(64)
        # At least one stop per socket of the namespace (a listener and
        # both ends of each connection).
        self.assertGreater(max(stops), self.PORTS)

    def test_exact_while_sockets_come_and_go(self):
        """Stops after each socket while another namespace opens and closes
        connections: sockets inserted at the head of a bucket before the
        place the kernel resumes at bring sockets round again, and sockets
        deleted there make it skip as many, which a second walk finds."""
        self.check_exact(64, churn=True)

    def test_exact_when_output_overflows_the_read(self):
        """64 KiB reads: the kernel's 8-page buffer overflows every 512
        sockets, and the socket whose output did not fit is shown to the
        program again after the stop."""
        self.check_exact(65536)


class ConnectionsTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def get_json(self, exporter, query):
        status, body = exporter.get(f"/connections?{query}")
        self.assertEqual(status, 200, body)
        return json.loads(body)["connections"]

    def test_off_by_default(self):
        with Exporter() as exporter:
            self.assertEqual(exporter.get("/connections")[0], 404)

    def test_filters(self):
        port, other = free_port(), free_port()
        with Netns("conns") as ns:
            ns.workload("serve", "--port", port, "--from", "127.0.0.2:4",
                        "--from", "127.0.0.3:2")
            ns.workload("closewait", "--port", other, "--from", "127.0.0.4:3")
            with Exporter(*FLAGS, "--web.enable-connections") as exporter:
                exporter.scrape()  # seeds the namespace
                mine = f"netns={ns.inode}"
                every = self.get_json(exporter, f"{mine}&limit=10000")
                # 2 listeners, 6 + 6 established sockets, 3 in CLOSE_WAIT;
                # their closed clients are timewait sockets now (FIN_WAIT2
                # of an orphan becomes one), which have no storage.
                states = sorted(c["state"] for c in every)
                self.assertEqual(states, ["close_wait"] * 3 + ["established"] * 12
                                 + ["listen"] * 2)
                self.assertTrue(all(c["netns"] == int(ns.inode) for c in every))
                # Not a pod: its Kubernetes names are empty, and filtering
                # by them finds nothing here.
                self.assertTrue(all(c["namespace"] == "" and c["pod"] == "" for c in every))
                self.assertEqual(self.get_json(exporter, f"{mine}&namespace=default"), [])
                self.assertEqual(self.get_json(exporter, f"{mine}&pod=web-0"), [])

                server = self.get_json(exporter, f"{mine}&port={port}&state=established")
                self.assertEqual(len(server), 6)
                self.assertEqual(sorted(c["peer_address"] for c in server),
                                 ["127.0.0.2"] * 4 + ["127.0.0.3"] * 2)
                c = server[0]
                for field in ("local_address", "local_port", "peer_port",
                              "seconds_in_state", "recv_q", "send_q", "rtt_us",
                              "rttvar_us", "retransmits", "total_retransmits", "lost",
                              "cwnd", "snd_wnd", "rcv_wnd", "bytes_acked",
                              "bytes_received", "last_data_sent_ms",
                              "last_data_recv_ms"):
                    self.assertIn(field, c)
                self.assertEqual(c["local_port"], port)
                self.assertGreater(c["cwnd"], 0)
                self.assertTrue(c["in_state_before_exporter"])

                by_peer = self.get_json(exporter, f"{mine}&peer=127.0.0.3")
                # The 2 server sockets (127.0.0.3 is the clients' local
                # address, not their peer).
                self.assertEqual(len(by_peer), 2)
                self.assertEqual({c["local_port"] for c in by_peer}, {port})
                self.assertEqual(len(self.get_json(
                    exporter, f"{mine}&peer=%3A%3Affff%3A127.0.0.3")), 2)

                close_wait = self.get_json(exporter, f"{mine}&state=close_wait")
                self.assertEqual([c["local_port"] for c in close_wait], [other] * 3)
                # `process`: the owner of the listener a socket belongs to,
                # as the last scrape's tcpq_listener_info named it; a client
                # socket belongs to none.
                for c in server + close_wait:
                    self.assertEqual(c["process"], "python3", c)
                clients = [c for c in every if c["local_port"] not in (port, other)]
                self.assertEqual(len(clients), 6)
                self.assertEqual({c["process"] for c in clients}, {""})
                self.assertEqual(len(self.get_json(
                    exporter, f"{mine}&state=close_wait,listen")), 5)

                self.assertEqual(self.get_json(exporter, f"{mine}&min_age=3600"), [])
                time.sleep(0.3)
                self.assertEqual(len(self.get_json(exporter, f"{mine}&min_age=0.2")), 17)

                oldest = self.get_json(exporter, f"{mine}&limit=3")
                self.assertEqual(len(oldest), 3)
                ages = [c["seconds_in_state"] for c in oldest]
                self.assertEqual(ages, sorted(ages, reverse=True))

                status, text = exporter.get(f"/connections?{mine}&state=close_wait&format=text")
                self.assertEqual(status, 200)
                lines = text.splitlines()
                self.assertTrue(lines[0].startswith("NETNS"), text)
                self.assertEqual(len(lines), 4)
                local = lines[0].index("LOCAL")
                self.assertTrue(all(line[local:].startswith("127.0.0.1:")
                                    for line in lines[1:]), text)

    def test_bad_parameters(self):
        with Exporter("--web.enable-connections") as exporter:
            for query, reason in (("port=0", "port"), ("limit=10001", "limit"),
                                  ("limit=0", "limit"), ("min_age=-1", "min_age"),
                                  ("state=listening", "state"), ("peer=foo", "peer"),
                                  ("format=xml", "format"), ("bogus=1", "unknown parameter"),
                                  ("port=1&port=2", "twice"), ("pod=", "pod")):
                status, body = exporter.get(f"/connections?{query}")
                self.assertEqual(status, 400, query)
                self.assertIn(reason, body)
                self.assertEqual(body.count("\n"), 1, body)


if __name__ == "__main__":
    main()
