"""The sockets collector and GET /connections against the real kernel, in
fresh network namespaces: peers per listener, the oldest socket per state,
the oldest accept-queue wait, and the connections endpoint's filters, with
exact expectations (a fresh namespace holds only what the test made)."""
import json
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

    def test_close_wait_age_grows_with_wall_time(self):
        port = free_port()
        with Netns("closewait") as ns, Exporter(*FLAGS) as exporter:
            exporter.scrape()  # seeds the namespace
            ns.workload("closewait", "--port", port, "--from", "127.0.0.1:3")
            started = time.time()
            labels = dict(netns=ns.inode, state="close_wait")
            first = walked_after(exporter, started)
            t1 = time.monotonic()
            age1 = one(first, "tcpq_sockets_oldest_seconds", **labels)
            self.assertGreater(age1, 0)
            time.sleep(3)
            second = walked_after(exporter, time.time() - 0.05)
            t2 = time.monotonic()
            age2 = one(second, "tcpq_sockets_oldest_seconds", **labels)
            # Each value is as of its walk, at most one interval (plus the
            # time to scrape) before it was read.
            self.assertAlmostEqual(age2 - age1, t2 - t1, delta=INTERVAL + 0.5)
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
            started = time.time()
            labels = dict(netns=ns.inode, addr="127.0.0.1", port=str(port))
            first = walked_after(exporter, started)
            t1 = time.monotonic()
            wait1 = one(first, "tcpq_listener_accept_queue_oldest_seconds", **labels)
            self.assertGreater(wait1, 0)
            time.sleep(3)
            second = walked_after(exporter, time.time() - 0.05)
            t2 = time.monotonic()
            wait2 = one(second, "tcpq_listener_accept_queue_oldest_seconds", **labels)
            self.assertAlmostEqual(wait2 - wait1, t2 - t1, delta=INTERVAL + 0.5)
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
