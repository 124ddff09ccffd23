"""--web.config.file against real TLS clients: the real exporter binary, curl,
and a throwaway CA, server and client certificates made with the openssl CLI
for each run. Needs no root and no network beyond loopback."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from tcpq_testlib import free_port, main

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                        "web_config")
# Passwords of the users in fixtures/web_config/users.yml (see its README).
ALICE = ("alice", "correct horse")  # bcrypt cost 5
BOB = ("bob", "battery staple")  # bcrypt cost 10


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


class WebConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = os.environ.get("TCPQ_EXPORTER")
        if not cls.binary:
            raise unittest.SkipTest("TCPQ_EXPORTER is not set (run through ctest)")
        for tool, package in (("curl", "curl"), ("openssl", "openssl")):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (Debian package {package})")
        cls.tmp = tempfile.TemporaryDirectory(prefix="tcpq_web_config_")
        d = cls.dir = cls.tmp.name
        make_ca(d, "ca")
        make_cert(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                     "extendedKeyUsage=serverAuth")
        make_cert(d, "client", "ca", "extendedKeyUsage=clientAuth")
        make_ca(d, "rogue_ca")
        make_cert(d, "rogue_client", "rogue_ca", "extendedKeyUsage=clientAuth")
        with open(os.path.join(FIXTURES, "users.yml")) as f:
            cls.users_yaml = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    # --- helpers -----------------------------------------------------------

    def write_config(self, text):
        path = os.path.join(self.dir, f"web-{self.id().rsplit('.', 1)[-1]}.yml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def tls_config(self, extra="", users=True):
        # Relative paths: the exporter resolves them against the file's directory.
        text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + extra
        return text + (self.users_yaml if users else "")

    def start(self, config_text):
        """Starts the exporter with `config_text`; returns its port."""
        path = self.write_config(config_text)
        port = free_port()
        proc = subprocess.Popen(
            [self.binary, f"--web.listen-address=127.0.0.1:{port}", "--netns=host",
             f"--web.config.file={path}"],
            stderr=subprocess.PIPE, text=True)

        def stop():
            proc.terminate()
            self.stderr = proc.communicate(timeout=10)[1]
            self.assertEqual(proc.returncode, 0, self.stderr)

        self.addCleanup(stop)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail(f"exporter exited {proc.returncode}: {proc.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        self.fail("exporter did not listen")

    def curl(self, port, path="/metrics", *args, scheme="https", auth=None, cacert=True):
        """(curl exit status, HTTP status or 0, headers + body, stderr)."""
        cmd = ["curl", "-sS", "-i", "--max-time", "10", "-w", "\n%{http_code}",
               "--resolve", f"localhost:{port}:127.0.0.1"]
        if cacert:
            cmd += ["--cacert", os.path.join(self.dir, "ca.crt")]
        if auth is not None:
            cmd += ["-u", f"{auth[0]}:{auth[1]}"]
        cmd += [*args, f"{scheme}://localhost:{port}{path}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        out, _, code = r.stdout.rpartition("\n")
        return r.returncode, int(code or 0), out, r.stderr

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
        self.assertIn("http_server_config", self.stderr)
        self.assertIn("tls=true basic_auth=true", self.stderr)

    def test_plain_http_to_tls_port_fails(self):
        port = self.start(self.tls_config())
        self.assert_fails(self.curl(port, scheme="http", auth=ALICE))
        # The server survives it.
        self.assert_status(self.curl(port, auth=ALICE), 200)

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
        client = ["--cert", os.path.join(self.dir, "client.crt"),
                  "--key", os.path.join(self.dir, "client.key")]
        rogue = ["--cert", os.path.join(self.dir, "rogue_client.crt"),
                 "--key", os.path.join(self.dir, "rogue_client.key")]
        for tls in (["--tlsv1.3"], ["--tls-max", "1.2"]):
            self.assert_fails(self.curl(port, "/metrics", *tls, auth=ALICE))
            self.assert_fails(self.curl(port, "/metrics", *tls, *rogue, auth=ALICE))
            self.assert_status(self.curl(port, "/metrics", *tls, *client, auth=ALICE), 200)
            # The certificate does not replace the password.
            self.assert_status(self.curl(port, "/metrics", *tls, *client), 401)

    def test_client_certificate_verified_if_given(self):
        port = self.start(self.tls_config(
            "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n",
            users=False))
        self.assert_status(self.curl(port, "/"), 200)
        self.assert_status(self.curl(port, "/", "--cert", os.path.join(self.dir, "client.crt"),
                                     "--key", os.path.join(self.dir, "client.key")), 200)
        self.assert_fails(self.curl(port, "/", "--cert",
                                    os.path.join(self.dir, "rogue_client.crt"), "--key",
                                    os.path.join(self.dir, "rogue_client.key")))

    def test_basic_auth_without_tls(self):
        port = self.start(self.users_yaml)
        self.assert_status(self.curl(port, scheme="http", auth=ALICE), 200)
        self.assert_status(self.curl(port, scheme="http"), 401)
        self.assert_status(self.curl(port, scheme="http", auth=("alice", "nope")), 401)
        self.assert_fails(self.curl(port, auth=ALICE))  # no TLS here

    def test_bad_configs_exit_2_with_one_line(self):
        cases = [
            ("tls_server_config:\n  cert_file: [server.crt\n", "YAML error at line"),
            ("tls_server_config:\n  certfile: server.crt\n", 'unknown key \\"certfile\\"'),
            ("bogus: 1\n", 'unknown key \\"bogus\\"'),
            (self.tls_config("  min_version: TLS14\n"), "min_version"),
            ("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
             "missing.crt: No such file"),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
             "does not match cert_file"),
            ("tls_server_config:\n  cert_file: server.crt\n", "missing key_file"),
            ("basic_auth_users:\n  carol: hunter2\n", 'user \\"carol\\": not a bcrypt hash'),
            ("basic_auth_users:\n  carol: $6$saltsalt$0123456789\n", "not a bcrypt hash"),
        ]
        for text, needle in cases:
            with self.subTest(needle=needle):
                path = self.write_config(text)
                self.assert_exit_2(f"--web.config.file={path}", needle=needle)
        self.assert_exit_2(f"--web.config.file={self.dir}/nonexistent.yml",
                           needle="nonexistent.yml: No such file")

    def assert_exit_2(self, *flags, needle):
        r = subprocess.run([self.binary, "--web.listen-address=127.0.0.1:0", "--netns=host",
                            *flags], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("level=error", lines[0])
        self.assertIn("invalid web config", lines[0])
        self.assertIn(needle, lines[0])


if __name__ == "__main__":
    main()
