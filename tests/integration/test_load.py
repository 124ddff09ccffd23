"""Load: many concurrent clients on /metrics (wrk) for a bounded time. Every
response must be a complete exposition, wrk must see no error, and the
exporter's resident memory must stay flat across rounds (no leak)."""
import http.client
import os
import re
import shutil
import subprocess
import threading
import unittest
import urllib.request

from tcpq_testlib import HERE, Exporter, Netns, main, require_root

SCRIPT = os.path.join(HERE, "load", "complete_exposition.lua")
CONNECTIONS = 32
ROUND_SECONDS = 5
ROUNDS = 3  # the first warms up: thread stacks, malloc arenas, caches
# Before the rounds, this many connections at once, one scrape each: more
# than the exporter's HTTP workers (256, exporter/http_server.cc), which
# take connections in turn, so that each has served once (its stack and
# buffers touched) before RSS is measured; wrk's 32 kept-alive connections
# would otherwise reach new workers in every round.
WARM_CONNECTIONS = 300
# Allowed RSS growth from the end of the warm-up to the end of the last round.
# A leak of one kilobyte per scrape over the two measured rounds (about 1500
# scrapes on the CI machine) exceeds it; allocator noise stays well below.
# The ASan build, which scrapes fewer times, also checks leaks at exit.
MAX_GROWTH_KIB = 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class LoadTest(unittest.TestCase):
    def setUp(self):
        require_root(self)
        if shutil.which("wrk") is None:
            self.skipTest("needs wrk (Debian package wrk)")

    def wrk_round(self, url):
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{ROUND_SECONDS}s", "--timeout", "20s",
             "-s", SCRIPT, url], capture_output=True, text=True, timeout=ROUND_SECONDS + 60)
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
        self.assertIsNotNone(m, out.stdout)
        result = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
        print(f"wrk round: {m.group(1)}", flush=True)
        return result

    def test_concurrent_scrapes_are_complete_and_memory_stays_flat(self):
        # A few namespaces with listeners, so each exposition is more than
        # the exporter's own namespace.
        with Netns("load-a") as a, Netns("load-b") as b, Exporter() as exporter:
            for ns in (a, b):
                ns.workload("overflow", "--port", 8080, "--backlog", 4, "--connects", 8)
            url = f"http://127.0.0.1:{exporter.port}/metrics"
            pid = exporter.proc.pid
            warm = [threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=60).read())
                    for _ in range(WARM_CONNECTIONS)]
            for t in warm:
                t.start()
            for t in warm:
                t.join()
            rss = []
            total = 0
            for _ in range(ROUNDS):
                result = self.wrk_round(url)
                rss.append(rss_kib(pid))
                self.assertGreater(result["requests"], 0)
                self.assertEqual(result["good"], result["requests"], result)
                self.assertEqual(result["bad"], 0, result)
                for error in ("connect", "read", "write", "status", "timeout"):
                    self.assertEqual(result[error], 0, (error, result))
                total += result["requests"]
            print(f"RSS after each round (KiB): {rss}; {total} complete responses", flush=True)
            if os.environ.get("TCPQ_SANITIZED") == "1":
                # ASan holds freed memory in quarantine, so RSS grows by
                # design; LeakSanitizer checks for leaks when the exporter
                # exits instead (a leak makes the exit status, checked by
                # Exporter, non-zero).
                print("sanitizer build: RSS bound not applied, LeakSanitizer "
                      "checks at exit", flush=True)
            else:
                self.assertLessEqual(rss[-1] - rss[0], MAX_GROWTH_KIB, rss)
            self.assertEqual(exporter.get("/-/healthy")[0], 200)

    def test_every_kept_alive_connection_is_served(self):
        """wrk counts responses, not connections: a server that served 4 of
        its 100 connections would pass it. Here each of 100 kept-alive
        connections scrapes 5 times at once with the others, and each must
        get 5 complete expositions."""
        with Exporter("--netns=host", "--web.max-requests=100") as exporter:
            served = [0] * 100
            barrier = threading.Barrier(100)

            def client(i):
                conn = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
                barrier.wait()
                try:
                    for _ in range(5):
                        conn.request("GET", "/metrics")
                        r = conn.getresponse()
                        body = r.read()
                        if r.status == 200 and body.endswith(b"\n") and \
                                b"\ntcpq_exporter_scrapes_total " in body:
                            served[i] += 1
                finally:
                    conn.close()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(served, [5] * 100)


if __name__ == "__main__":
    main()
