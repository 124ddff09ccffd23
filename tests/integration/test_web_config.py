"""--web.config.file against real TLS clients, and --web.listen-address over
both address families: the real exporter binary, curl, and a throwaway CA,
server and client certificates made with the openssl CLI for each run. Every
TLS and basic auth test runs over IPv4 (127.0.0.1), IPv6 ([::1]) and every
address (:PORT, each request sent to both 127.0.0.1 and ::1). Loopback only;
root only for the test in a network namespace."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from tcpq_testlib import Netns, free_port, main

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                        "web_config")
# Passwords of the users in fixtures/web_config/users.yml (see its README).
ALICE = ("alice", "correct horse")  # bcrypt cost 5
BOB = ("bob", "battery staple")  # bcrypt cost 10
CERTS = None  # the directory setUpModule fills


def cannot_run(reason):
    """Skips with `reason`; in CI (CI=true), whose install step provides every
    tool, fails instead, so a broken install never passes as a skip."""
    if os.environ.get("CI") == "true":
        raise AssertionError(f"cannot run in CI: {reason}")
    raise unittest.SkipTest(reason)


def exporter_binary():
    binary = os.environ.get("TCPQ_EXPORTER")
    if not binary:
        cannot_run("TCPQ_EXPORTER is not set (run through ctest)")
    return binary


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_both_families():
    """A port free on every address of both families (a dual-stack bind)."""
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        return s.getsockname()[1]


def url_host(address):
    return f"[{address}]" if ":" in address else address


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_cert(directory, name, ca, extensions):
    """name.key + name.crt signed by `ca` (a name already made here)."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=directory)
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write(extensions + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=directory)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "1",
            "-subj", f"/CN={name}", cwd=directory)


_tmp = None


def setUpModule():
    global _tmp, CERTS
    for tool, package in (("curl", "curl"), ("openssl", "openssl")):
        if shutil.which(tool) is None:
            cannot_run(f"needs {tool} (Debian package {package})")
    _tmp = tempfile.TemporaryDirectory(prefix="tcpq_web_config_")
    d = CERTS = _tmp.name
    make_ca(d, "ca")
    make_cert(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                                 "extendedKeyUsage=serverAuth")
    make_cert(d, "client", "ca", "extendedKeyUsage=clientAuth")
    make_ca(d, "rogue_ca")
    make_cert(d, "rogue_client", "rogue_ca", "extendedKeyUsage=clientAuth")


def tearDownModule():
    if _tmp is not None:
        _tmp.cleanup()


class ExporterProcess:
    """Starts the exporter with `flags` for one test (stopped by its cleanup,
    which expects exit status 0) and waits until `ready()` holds."""

    def __init__(self, test, flags, ready, wrapper=(), env=None):
        self.proc = subprocess.Popen([*wrapper, exporter_binary(), *flags],
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.stderr = ""

        def stop():
            self.proc.terminate()
            self.stderr = self.proc.communicate(timeout=10)[1]
            test.assertEqual(self.proc.returncode, 0, self.stderr)

        test.addCleanup(stop)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                test.fail(f"exporter exited {self.proc.returncode}: {self.proc.stderr.read()}")
            if ready():
                return
            time.sleep(0.05)
        test.fail("exporter did not listen")


def connects(address, port):
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


class TlsAndAuthTests:
    """TLS and basic auth; a subclass names where the exporter listens
    (LISTEN, the host part of --web.listen-address) and the addresses each
    request goes to (CONNECT: every one must give the same result)."""
    LISTEN = None
    CONNECT = ()

    # --- helpers -----------------------------------------------------------

    def write_config(self, text):
        path = os.path.join(CERTS, f"web-{self.id().rsplit('.', 2)[-2]}-"
                                   f"{self.id().rsplit('.', 1)[-1]}.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def tls_config(self, extra="", users=True):
        # Relative paths: the exporter resolves them against the file's directory.
        text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + extra
        return text + (self.users_yaml() if users else "")

    @staticmethod
    def users_yaml():
        with open(os.path.join(FIXTURES, "users.yml")) as f:
            return f.read()

    def start(self, config_text):
        """Starts the exporter with `config_text`; returns its port."""
        path = self.write_config(config_text)
        port = free_port() if self.CONNECT == ("127.0.0.1",) else free_port_both_families()
        self.exporter = ExporterProcess(
            self, [f"--web.listen-address={self.LISTEN}:{port}", "--netns=host",
                   f"--web.config.file={path}"],
            ready=lambda: all(connects(a, port) for a in self.CONNECT))
        return port

    def curl(self, port, path="/metrics", *args, scheme="https", auth=None, cacert=True):
        """(curl exit status, HTTP status or 0, headers + body, stderr) of the
        request sent to each CONNECT address, which must agree on success and
        status."""
        results = []
        for address in self.CONNECT:
            cmd = ["curl", "-sS", "-i", "--max-time", "10", "-w", "\n%{http_code}",
                   "--resolve", f"localhost:{port}:{url_host(address)}"]
            if cacert:
                cmd += ["--cacert", os.path.join(CERTS, "ca.crt")]
            if auth is not None:
                cmd += ["-u", f"{auth[0]}:{auth[1]}"]
            cmd += [*args, f"{scheme}://localhost:{port}{path}"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            out, _, code = r.stdout.rpartition("\n")
            results.append((address, r.returncode, int(code or 0), out, r.stderr))
        outcomes = {(rc == 0, code) for _, rc, code, _, _ in results}
        self.assertEqual(len(outcomes), 1, f"the families disagree: {results}")
        return results[0][1:]

    def assert_status(self, result, status):
        rc, code, out, err = result
        self.assertEqual((rc, code), (0, status), f"{out}\n{err}")
        return out

    def assert_fails(self, result):
        rc, code, out, err = result
        self.assertNotEqual(rc, 0, f"curl succeeded: {code} {out}")
        self.assertEqual(code, 0, out)
        return err

    # --- tests ---------------------------------------------------------------

    def test_basic_auth_over_tls(self):
        port = self.start(self.tls_config() + "http_server_config:\n  http2: false\n")
        body = self.assert_status(self.curl(port, auth=ALICE), 200)
        self.assertIn("tcpq_exporter_build_info", body)
        # Again (now from the verification cache), and the cost-10 user.
        self.assert_status(self.curl(port, auth=ALICE), 200)
        self.assert_status(self.curl(port, auth=BOB), 200)

        for auth in (("alice", "wrong"), ("alice", BOB[1]), ("mallory", ALICE[1]), None):
            out = self.assert_status(self.curl(port, auth=auth), 401)
            self.assertIn('WWW-Authenticate: Basic realm="tcpq_exporter"', out)
            self.assertNotIn("tcpq_", out.split("\n\n", 1)[1])
        # Every path is protected, as in the exporter-toolkit.
        for path in ("/", "/-/healthy", "/-/ready", "/nope"):
            self.assert_status(self.curl(port, path), 401)
        self.assert_status(self.curl(port, "/-/ready", auth=ALICE), 200)
        self.assert_status(self.curl(port, "/nope", auth=ALICE), 404)
        # A client that checks the certificate chain against another CA refuses.
        self.assert_fails(self.curl(port, auth=ALICE, cacert=False))
        self.doCleanups()
        self.assertIn("http_server_config", self.exporter.stderr)
        self.assertIn("tls=true basic_auth=true", self.exporter.stderr)

    def test_plain_http_to_tls_port_gets_400(self):
        port = self.start(self.tls_config())
        # As the exporter-toolkit (Go's server) answers it, not a silent close.
        out = self.assert_status(self.curl(port, scheme="http", auth=ALICE), 400)
        self.assertIn("Client sent an HTTP request to an HTTPS server.", out)
        # The server survives it.
        self.assert_status(self.curl(port, auth=ALICE), 200)
        self.doCleanups()
        # Logged once for its kind, with OpenSSL's reason.
        lines = [l for l in self.exporter.stderr.splitlines()
                 if "tls handshake failed" in l and 'reason="http request"' in l]
        self.assertEqual(len(lines), 1, self.exporter.stderr)

    def test_tls12_rejected_when_min_version_tls13(self):
        port = self.start(self.tls_config(users=False))
        self.assert_status(self.curl(port, "/", "--tls-max", "1.2"), 200)
        self.doCleanups()

        port = self.start(self.tls_config("  min_version: TLS13\n", users=False))
        err = self.assert_fails(self.curl(port, "/", "--tls-max", "1.2"))
        self.assertIn("SSL", err)
        self.assert_status(self.curl(port, "/", "--tlsv1.3"), 200)

    def test_max_version_tls12(self):
        port = self.start(self.tls_config("  max_version: TLS12\n", users=False))
        self.assert_fails(self.curl(port, "/", "--tlsv1.3"))
        self.assert_status(self.curl(port, "/", "--tls-max", "1.2"), 200)

    def test_client_certificate_required_and_verified(self):
        port = self.start(self.tls_config(
            "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"))
        client = ["--cert", os.path.join(CERTS, "client.crt"),
                  "--key", os.path.join(CERTS, "client.key")]
        rogue = ["--cert", os.path.join(CERTS, "rogue_client.crt"),
                 "--key", os.path.join(CERTS, "rogue_client.key")]
        for tls in (["--tlsv1.3"], ["--tls-max", "1.2"]):
            self.assert_fails(self.curl(port, "/metrics", *tls, auth=ALICE))
            self.assert_fails(self.curl(port, "/metrics", *tls, *rogue, auth=ALICE))
            body = self.assert_status(self.curl(port, "/metrics", *tls, *client, auth=ALICE),
                                      200)
            self.assertIn("tcpq_exporter_build_info", body)
            # The certificate does not replace the password.
            self.assert_status(self.curl(port, "/metrics", *tls, *client), 401)

    def test_client_certificate_verified_if_given(self):
        port = self.start(self.tls_config(
            "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n",
            users=False))
        self.assert_status(self.curl(port, "/"), 200)
        self.assert_status(self.curl(port, "/", "--cert", os.path.join(CERTS, "client.crt"),
                                     "--key", os.path.join(CERTS, "client.key")), 200)
        self.assert_fails(self.curl(port, "/", "--cert",
                                    os.path.join(CERTS, "rogue_client.crt"), "--key",
                                    os.path.join(CERTS, "rogue_client.key")))

    def test_basic_auth_without_tls(self):
        port = self.start(self.users_yaml())
        self.assert_status(self.curl(port, scheme="http", auth=ALICE), 200)
        self.assert_status(self.curl(port, scheme="http"), 401)
        self.assert_status(self.curl(port, scheme="http", auth=("alice", "nope")), 401)
        self.assert_fails(self.curl(port, auth=ALICE))  # no TLS here


class IPv4Test(TlsAndAuthTests, unittest.TestCase):
    LISTEN = "127.0.0.1"
    CONNECT = ("127.0.0.1",)


class IPv6Test(TlsAndAuthTests, unittest.TestCase):
    LISTEN = "[::1]"
    CONNECT = ("::1",)

    @classmethod
    def setUpClass(cls):
        if not has_ipv6_loopback():
            cannot_run("this host has no IPv6 loopback address ::1")


class EveryAddressTest(TlsAndAuthTests, unittest.TestCase):
    LISTEN = ""
    CONNECT = ("127.0.0.1", "::1")

    setUpClass = IPv6Test.setUpClass


class BadConfigTest(unittest.TestCase):
    def test_bad_configs_exit_2_with_one_line(self):
        cases = [
            ("tls_server_config:\n  cert_file: [server.crt\n", "YAML error at line"),
            ("tls_server_config:\n  certfile: server.crt\n", 'unknown key \\"certfile\\"'),
            ("bogus: 1\n", 'unknown key \\"bogus\\"'),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
             "  min_version: TLS14\n", "min_version"),
            ("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
             "missing.crt: No such file"),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
             "does not match cert_file"),
            ("tls_server_config:\n  cert_file: server.crt\n", "missing key_file"),
            ("basic_auth_users:\n  carol: hunter2\n", 'user \\"carol\\": not a bcrypt hash'),
            ("basic_auth_users:\n  carol: $6$saltsalt$0123456789\n", "not a bcrypt hash"),
        ]
        for i, (text, needle) in enumerate(cases):
            with self.subTest(needle=needle):
                path = os.path.join(CERTS, f"bad-{i}.yml")
                with open(path, "w") as f:
                    f.write(text)
                self.assert_exit_2(f"--web.config.file={path}", needle=needle)
        self.assert_exit_2(f"--web.config.file={CERTS}/nonexistent.yml",
                           needle="nonexistent.yml: No such file")

    def assert_exit_2(self, *flags, needle):
        r = subprocess.run([exporter_binary(), "--web.listen-address=127.0.0.1:0",
                            "--netns=host", *flags], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("level=error", lines[0])
        self.assertIn("invalid web config", lines[0])
        self.assertIn(needle, lines[0])


def get(address, port, path="/metrics"):
    """(status, body) of a plain HTTP GET to address:port."""
    try:
        with urllib.request.urlopen(f"http://{url_host(address)}:{port}{path}",
                                    timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class ListenAddressTest(unittest.TestCase):
    """--web.listen-address over both families, plain HTTP."""

    def setUp(self):
        if not has_ipv6_loopback():
            cannot_run("this host has no IPv6 loopback address ::1")

    def start(self, listen, port, connect, wrapper=(), env=None):
        return ExporterProcess(self, [f"--web.listen-address={listen}", "--netns=host"],
                               ready=lambda: connects(connect, port), wrapper=wrapper,
                               env=env)

    def assert_scrape(self, address, port):
        status, body = get(address, port)
        self.assertEqual(status, 200, body)
        self.assertIn("\ntcpq_exporter_build_info{", body)

    def assert_refused(self, address, port):
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=5).close()

    def test_ipv6_loopback_only(self):
        port = free_port_both_families()
        self.start(f"[::1]:{port}", port, "::1")
        self.assert_scrape("::1", port)
        self.assert_refused("127.0.0.1", port)

    def test_ipv4_address_only(self):
        port = free_port_both_families()
        self.start(f"127.0.0.1:{port}", port, "127.0.0.1")
        self.assert_scrape("127.0.0.1", port)
        self.assert_refused("::1", port)

    def test_empty_host_listens_on_both_families(self):
        port = free_port_both_families()
        exporter = self.start(f":{port}", port, "127.0.0.1")
        self.assert_scrape("127.0.0.1", port)
        self.assert_scrape("::1", port)
        self.doCleanups()
        self.assertNotIn("level=warn", exporter.stderr)

    def test_empty_host_is_ipv4_only_on_a_host_without_ipv6(self):
        lib = os.environ.get("TCPQ_NO_IPV6_LIB")
        if not lib:
            cannot_run("TCPQ_NO_IPV6_LIB is not set (run through ctest)")
        asan = os.environ.get("ASAN_OPTIONS", "")
        port = free_port_both_families()
        exporter = self.start(
            f":{port}", port, "127.0.0.1",
            env={"LD_PRELOAD": lib,
                 "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0".lstrip(":")})
        self.assert_scrape("127.0.0.1", port)
        self.assert_refused("::1", port)
        self.doCleanups()
        warnings = [l for l in exporter.stderr.splitlines() if "level=warn" in l]
        self.assertEqual(len(warnings), 1, exporter.stderr)
        self.assertIn('msg="listening on IPv4 only" reason="this host has no IPv6: socket: '
                      'Address family not supported by protocol"', warnings[0])

    def test_namespace_with_ipv6_disabled(self):
        """IPv6 disabled by sysctl (no ::1) still lets a dual-stack socket take
        IPv4: :PORT serves 127.0.0.1 there, [::1]:PORT fails with the reason."""
        if os.geteuid() != 0 or shutil.which("ip") is None:
            cannot_run("needs root and iproute2's ip for a network namespace")
        with Netns("noipv6") as ns:
            ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            self.assertNotIn("::1", ns.run("ip", "addr", "show", "lo"))
            wrapper = ("ip", "netns", "exec", ns.name)
            port = free_port()
            exporter = ExporterProcess(
                self, [f"--web.listen-address=:{port}", "--netns=host"],
                ready=lambda: ns.run("ss", "-tlnH", f"sport = :{port}").strip() != "",
                wrapper=wrapper)
            out = ns.run("curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/metrics")
            self.assertIn("\ntcpq_exporter_build_info{", out)
            r = subprocess.run([*wrapper, exporter_binary(), f"--web.listen-address=[::1]:{port}",
                                "--netns=host"], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("cannot start web server", r.stderr)
            self.assertIn("Cannot assign requested address", r.stderr)
            self.doCleanups()
            self.assertNotIn("level=warn", exporter.stderr)

    def test_address_in_use_exits_2_for_both_families(self):
        for family, taken_at, listen in ((socket.AF_INET6, "::1", "[::1]"),
                                         (socket.AF_INET, "127.0.0.1", ""),
                                         (socket.AF_INET6, "::1", "")):
            with self.subTest(taken_at=taken_at, listen=listen), \
                    socket.socket(family) as taken:
                taken.bind((taken_at, 0))
                taken.listen(1)
                port = taken.getsockname()[1]
                r = subprocess.run([exporter_binary(), f"--web.listen-address={listen}:{port}",
                                    "--netns=host"], capture_output=True, text=True, timeout=20)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertIn("level=error", lines[-1])
                self.assertIn("Address already in use", lines[-1])


if __name__ == "__main__":
    main()
