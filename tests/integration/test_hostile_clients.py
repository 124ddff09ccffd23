#!/usr/bin/env python3
"""Slow, idle, malformed and hostile clients on the exporter's port must not
starve Prometheus' scrape (issue: "Keep serving Prometheus under hostile
and careless clients"). Loopback only; every figure is a success count or a
ratio measured in the same run, never a wall-clock threshold on one sample.

The exporter runs with --netns=host: what is measured is the HTTP server,
not the collection."""
import base64
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcpq_testlib import CheckResult, Exporter, require_root  # noqa: E402

HOST = "127.0.0.1"
# A scrape must succeed within this (Prometheus' default scrape_timeout is
# 10 s; the issue asks for 5).
SCRAPE_DEADLINE = 5.0


def connect(port, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(sock):
    """(status, headers dict, body) of one response on a kept-alive
    connection; the body by Content-Length (none for HEAD: pass head=True
    to the caller's knowledge by not reading one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def request(port, raw, timeout=10):
    """Sends `raw` bytes on a new connection and returns (status, headers,
    body) of the reply, the body read to its Content-Length."""
    with connect(port, timeout) as s:
        s.sendall(raw)
        status, headers, body = read_response(s)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def timed_scrape(port, auth=None):
    """Whether one scrape succeeded within SCRAPE_DEADLINE."""
    extra = f"Authorization: Basic {auth}\r\n" if auth else ""
    started = time.monotonic()
    try:
        status, headers, body = request(
            port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{extra}"
                  "Connection: close\r\n\r\n".encode(), timeout=SCRAPE_DEADLINE)
    except OSError:
        return False
    return (status == 200 and b"tcpq_exporter_build_info" in body
            and time.monotonic() - started < SCRAPE_DEADLINE)


class Attackers:
    """Threads each doing `attack(stop_event)` until stopped."""

    def __init__(self, count, attack):
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=attack, args=(self.stop, i), daemon=True)
                        for i in range(count)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def reconnecting(session):
    """An attacker on a port: runs session(sock, stop) on a connection, and
    again on a new one whenever the server closes it, until stopped."""
    def on(port):
        def attack(stop, i):
            while not stop.is_set():
                try:
                    with connect(port) as s:
                        session(s, stop)
                except OSError:
                    stop.wait(0.1)
        return attack
    return on


def trickle(head, drip):
    """Sends `head`, then `drip` once a second."""
    def session(s, stop):
        s.sendall(head)
        while not stop.is_set():
            s.sendall(drip)
            stop.wait(1)
    return reconnecting(session)


def poll(s, stop):
    """A kept-alive poller of /-/healthy every 0.4 s."""
    while not stop.is_set():
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s)
        stop.wait(0.4)


slowloris = trickle(b"GET /metrics HTTP/1.1\r\n", b"X")  # a head that never ends
body_trickle = trickle(b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 10000000000\r\n\r\n", b"a")
poller = reconnecting(poll)


class HostileClientsTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def assert_scrapes_succeed(self, port, attack, count, scrapes=8):
        with Attackers(count, attack(port)):
            time.sleep(2)  # let every attacker take its connection
            results = [timed_scrape(port) for _ in range(scrapes)]
        self.assertEqual(results.count(True), scrapes, results)

    def test_slow_idle_and_trickling_clients_do_not_starve_scrapes(self):
        with Exporter("--netns=host") as exporter:
            for name, attack, count in (("slowloris", slowloris, 200),
                                        ("body trickle", body_trickle, 8),
                                        ("kept-alive pollers", poller, 16)):
                with self.subTest(name):
                    self.assert_scrapes_succeed(exporter.port, attack, count)
            with self.subTest("all at once"):
                with Attackers(8, body_trickle(exporter.port)), \
                        Attackers(16, poller(exporter.port)):
                    self.assert_scrapes_succeed(exporter.port, slowloris, 200)

    def test_slowloris_connection_is_closed_at_the_header_deadline(self):
        with Exporter("--netns=host") as exporter, connect(exporter.port, timeout=30) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            started = time.monotonic()
            closed = False
            for _ in range(30):
                try:
                    s.sendall(b"X")
                    s.settimeout(1)
                    if s.recv(4096) == b"":
                        closed = True
                        break
                except socket.timeout:
                    continue
                except OSError:
                    closed = True
                    break
            # Closed long before 30 bytes at one a second would end.
            self.assertTrue(closed)
            self.assertLess(time.monotonic() - started, 20)

    def test_head_is_headers_only_and_the_connection_goes_on(self):
        with Exporter("--netns=host") as exporter:
            before = scrape_count(exporter)
            with connect(exporter.port) as s:
                s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                status, headers, rest = read_response(s)
                self.assertEqual(status, 200)
                self.assertEqual(rest, b"")
                self.assertTrue(headers["content-type"].startswith("text/plain"))
                s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
                status, headers, body = read_response(s)
                self.assertEqual((status, body), (200, b"Healthy\n"))
            # HEAD ran no collection: the next scrape is the first after
            # `before`.
            self.assertEqual(scrape_count(exporter), before + 1)

    def test_methods_other_than_get_and_head_get_405_with_allow(self):
        with Exporter("--netns=host") as exporter:
            for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
                with self.subTest(method):
                    status, headers, _ = request(
                        exporter.port,
                        f"{method} /metrics HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 0\r\n\r\n".encode())
                    self.assertEqual(status, 405)
                    self.assertEqual(headers["allow"], "GET, HEAD")

    def test_only_the_documented_paths_serve(self):
        with Exporter("--netns=host") as exporter:
            for path in ("//metrics", "/./metrics", "/%6detrics", "/metrics%00",
                         "/metrics/", "/x/../metrics", "/METRICS"):
                with self.subTest(path):
                    status, _, body = request(
                        exporter.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    self.assertEqual(status, 404, body[:80])
                    self.assertNotIn(b"tcpq_", body)
            status, _, body = request(exporter.port,
                                      b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status, 200)

    def test_a_password_file_on_the_node_changes_nothing(self):
        """CivetWeb on its own looks for /.htpasswd on every request and, if
        it is there, answers every path 401 (digest auth): a file on the
        node would lock Prometheus out. The exporter runs in a mount
        namespace of its own whose / is an overlay of the real one with that
        file added (the real / is not touched)."""
        with tempfile.TemporaryDirectory() as scratch:
            overlay_root = (
                'mkdir "$0/upper" "$0/work" "$0/root" && '
                'mount -t overlay tcpq-test -o "lowerdir=/,upperdir=$0/upper,workdir=$0/work" '
                '"$0/root" && '
                'for m in /proc /sys /dev; do mount --rbind "$m" "$0/root$m"; done && '
                'echo admin:tcpq:0123456789abcdef0123456789abcdef > "$0/root/.htpasswd" && '
                'exec chroot "$0/root" "$@"')
            wrapper = ["unshare", "--mount", "--propagation", "private",
                       "sh", "-c", overlay_root, scratch]
            with Exporter("--netns=host", wrapper=wrapper) as exporter:
                for path in ("/metrics", "/-/healthy", "/nothing"):
                    with self.subTest(path):
                        status, headers, _ = request(
                            exporter.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                        self.assertEqual(status, 404 if path == "/nothing" else 200)
                        self.assertNotIn("www-authenticate", headers)

    def test_ill_formed_requests_get_400(self):
        with Exporter("--netns=host") as exporter:
            for what, raw in (
                    ("two Content-Lengths", "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 0\r\nContent-Length: 5\r\n\r\n"),
                    ("Content-Length and Transfer-Encoding",
                     "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                    ("HTTP/1.1 without Host", "GET /metrics HTTP/1.1\r\n\r\n"),
                    ("two Hosts", "GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")):
                with self.subTest(what):
                    status, _, body = request(exporter.port, raw.encode())
                    self.assertEqual(status, 400, body[:80])
            # HTTP/1.0 needs no Host.
            status, _, _ = request(exporter.port, b"GET /-/healthy HTTP/1.0\r\n\r\n")
            self.assertEqual(status, 200)

    def test_concurrent_scrapes_share_one_collection(self):
        # A limit above the burst: here every request must get metrics.
        with Exporter("--netns=host", "--web.max-requests=100") as exporter:
            single = sorted(burst(exporter.port, 1)[0][1] for _ in range(5))
            before = scrape_count(exporter)
            replies = burst(exporter.port, 100)
            # Every one of the 100 connections was served, with metrics.
            self.assertEqual([status for (status, body), _ in replies
                              if status == 200 and b"tcpq_exporter_build_info" in body],
                             [200] * 100)
            collections = scrape_count(exporter) - before - 1
            median = sorted(seconds for _, seconds in replies)[50]
            print(f"100 concurrent scrapes: {collections} collections, median "
                  f"{median * 1000:.1f} ms, one alone {single[2] * 1000:.1f} ms",
                  file=sys.stderr)
            # Shared: a request joins the collection running when it arrives,
            # so a burst costs a few collections, not one per request (each
            # ran its own before, serialized). The 100 requests reach the
            # server over some 15 ms here (one Python process sends them),
            # against ~1.5 ms a collection: 3 to 17 measured.
            self.assertLessEqual(collections, 25)

    def test_kept_alive_gzip_burst_costs_about_one_scrape(self):
        """100 scrapers that keep their connections and ask for gzip, as
        Prometheus does, from bench/scrape_burst (one epoll thread), against
        one scrape alone; --floor runs the same bursts against a server in
        the client that only writes the same reply: what the client,
        loopback TCP and the scheduler cost whatever the server does. A
        served scrape of a burst waits for one collection, so it takes at
        least one scrape above that floor; each request collecting on its
        own (95 ms before) or waiting in turn would take tens."""
        with Exporter("--netns=host") as exporter:
            above = []
            for _ in range(3):  # a loaded moment of a shared machine passes
                out = subprocess.run(
                    [os.environ["TCPQ_SCRAPE_BURST"], "--port", str(exporter.port),
                     "--keep-alive", "--gzip", "--floor", "--rounds", "20"],
                    check=True, capture_output=True, text=True, timeout=120).stdout
                print(out, file=sys.stderr)
                statuses = {code: int(n) for code, n in
                            re.findall(r"status 'HTTP/1.1 (\d+)': (\d+)", out)}
                # Every request of every burst answered on its own connection:
                # 200, or 503 beyond the 40 in flight (--web.max-requests), and
                # those 40 are always served.
                self.assertEqual(sum(statuses.values()), 20 * 100, out)
                self.assertEqual(set(statuses) - {"200", "503"}, set(), out)
                self.assertGreaterEqual(statuses["200"], 20 * 40, out)
                self.assertIn("reconnects: 0\n", out)
                above.append(float(re.search(r"= (-?[\d.]+) single scrapes", out)[1]))
                if above[-1] <= 2:
                    break
            self.assertLessEqual(min(above), 2, above)

    def test_max_requests_answers_503_beyond(self):
        # With at most 1 scrape in flight, a burst gets some 503s at once and
        # every other request is served.
        with Exporter("--netns=host", "--web.max-requests=1") as exporter:
            statuses = [status for (status, _), _ in burst(exporter.port, 20)]
            self.assertEqual(set(statuses) - {200, 503}, set())
            self.assertGreater(statuses.count(503), 0)
            self.assertGreater(statuses.count(200), 0)


def burst(port, clients):
    """`clients` scrapes sent at once: every connection is open before any
    request is sent. Returns ((status, body), seconds) for each."""
    sockets = [connect(port) for _ in range(clients)]
    barrier = threading.Barrier(clients)
    replies = [None] * clients

    def scrape(i):
        s = sockets[i]
        barrier.wait()
        started = time.monotonic()
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, headers, body = read_response(s)
            while len(body) < int(headers.get("content-length", "0")):
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
        except OSError:
            status, body = 0, b""
        finally:
            s.close()
        replies[i] = ((status, body), time.monotonic() - started)
    threads = [threading.Thread(target=scrape, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


class PasswordFloodTest(unittest.TestCase):
    """20 clients sending wrong passwords (a new one each time, so that no
    remembered failure helps) must not take the scrapes of an authorised
    client: it keeps at least 30% of the rate it has alone."""

    USERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                         "web_config", "users.yml")
    BOB = base64.b64encode(b"bob:battery staple").decode()  # bcrypt cost 10
    SECONDS = 4

    def setUp(self):
        require_root(self)

    def rate(self, port):
        """Successful authorised scrapes per second, one at a time."""
        done = 0
        started = time.monotonic()
        while time.monotonic() - started < self.SECONDS:
            done += timed_scrape(port, auth=self.BOB)
        return done / (time.monotonic() - started)

    def test_wrong_passwords_do_not_starve_the_right_one(self):
        with Exporter("--netns=host", f"--web.config.file={self.USERS}",
                      auth=("bob", "battery staple")) as exporter:
            self.assertTrue(timed_scrape(exporter.port, auth=self.BOB))  # cached now
            alone = self.rate(exporter.port)
            # The flood in a process of its own: its threads must not take
            # the measuring client's interpreter lock.
            stop = multiprocessing.Event()
            results = multiprocessing.Queue()
            flooder = multiprocessing.Process(
                target=password_flood, args=(exporter.port, 20, stop, results))
            flooder.start()
            time.sleep(1)
            flooded = self.rate(exporter.port)
            stop.set()
            statuses = results.get(timeout=60)
            flooder.join(timeout=60)
        print(f"authorised scrapes/s: alone {alone:.0f}, under the flood {flooded:.0f} "
              f"({flooded / alone:.2f}); the flood's replies: {statuses}", file=sys.stderr)
        self.assertGreater(alone, 0)
        self.assertGreaterEqual(flooded / alone, 0.3, (flooded, alone))
        # Refused, some at once without a bcrypt; nothing else.
        self.assertEqual(set(statuses) - {401, 429}, set(), statuses)
        self.assertGreater(statuses.get(429, 0), 0)
        self.assertGreater(statuses.get(401, 0), 0)
        # One summary line for the whole flood (one per minute at most).
        refused = [l for l in exporter.stderr.splitlines() if "basic auth refused" in l]
        self.assertEqual(len(refused), 1, refused)


class AuthorizationHeaderTest(unittest.TestCase):
    def setUp(self):
        require_root(self)

    def test_authorization_is_honoured_wherever_it_appears(self):
        """Any case, anywhere among the headers, on every path."""
        with Exporter("--netns=host", f"--web.config.file={PasswordFloodTest.USERS}",
                      auth=("bob", "battery staple")) as exporter:
            token = PasswordFloodTest.BOB
            for path in ("/metrics", "/-/healthy", "/"):
                for head in (f"Authorization: Basic {token}\r\nHost: x\r\n",
                             f"Host: x\r\nAccept: */*\r\nauthorization: Basic {token}\r\n",
                             f"Host: x\r\nAUTHORIZATION: Basic {token}\r\nX-A: 1\r\n"):
                    with self.subTest(path=path, head=head.split(token)[0]):
                        status, _, _ = request(
                            exporter.port, f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
                        self.assertEqual(status, 200)
                status, headers, _ = request(exporter.port,
                                             f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                self.assertEqual(status, 401)
                self.assertEqual(headers["www-authenticate"], 'Basic realm="tcpq_exporter"')


def password_flood(port, clients, stop, results):
    """`clients` threads sending a new wrong password for bob each time
    until `stop`; puts {status: count} on `results`."""
    statuses = {}
    lock = threading.Lock()

    def attack(stop_threads, i):
        n = 0
        while not stop_threads.is_set():
            n += 1
            wrong = base64.b64encode(f"bob:guess-{i}-{n}".encode()).decode()
            try:
                status, _, _ = request(
                    port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Basic {wrong}\r\n\r\n".encode())
            except OSError:
                continue
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    with Attackers(clients, attack):
        stop.wait()
    results.put(statuses)


def scrape_count(exporter):
    """How many collections ran: tcpq_exporter's own scrape counter, read
    by a scrape (which counts itself)."""
    for line in exporter.scrape_text().splitlines():
        if line.startswith("tcpq_exporter_scrapes_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no tcpq_exporter_scrapes_total")


if __name__ == "__main__":
    unittest.main(testRunner=unittest.TextTestRunner(resultclass=CheckResult, verbosity=2))
