"""The image deploy/build-image.sh built (ctest's integration.image_build,
TCPQ_IMAGE): its runtime stage holds the libraries the binary links and
nothing more, the binary in it is this tree's, and TLS works in it (civetweb
loads OpenSSL at run time, which ldd cannot see)."""
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from kube_pod import REPO, free_port, image_under_test, podman
from tcpq_testlib import main, require_root

BINARY = "/usr/local/bin/tcpq_exporter"


def base_image():
    """The runtime stage's FROM (the last FROM of the Dockerfile)."""
    with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
        froms = re.findall(r"^FROM\s+(\S+)", f.read(), re.M | re.I)
    return froms[-1]


def packages(image):
    out = podman("run", "--rm", "--entrypoint", "dpkg-query", image,
                 "-W", "-f", "${db:Status-Status} ${Package}\n").stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith("installed ")}


def depends(image):
    """{package: the packages its Depends and Pre-Depends name} in the image,
    each alternative counted (a | b)."""
    out = podman("run", "--rm", "--entrypoint", "dpkg-query", image, "-W", "-f",
                 "${Package}\t${Depends}, ${Pre-Depends}\n").stdout
    graph = {}
    for line in out.splitlines():
        name, _, deps = line.partition("\t")
        graph[name] = {re.split(r"[\s:(]", alt.strip(), maxsplit=1)[0]
                       for dep in deps.split(",") for alt in dep.split("|") if alt.strip()}
    return graph


def closure(roots, graph):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(graph.get(p, ()))
    return seen


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.image = image_under_test()

    def test_runtime_stage_installs_only_what_the_binary_links(self):
        """The Debian packages the runtime stage adds to its base are the
        ones deploy/runtime-packages.sh derives from `ldd` of the binary,
        run inside the built image, and what they depend on; nothing else."""
        script = os.path.join(REPO, "deploy", "runtime-packages.sh")
        result = podman("run", "--rm", "-v", f"{script}:/runtime-packages.sh:ro",
                        "--entrypoint", "bash", self.image, "/runtime-packages.sh", BINARY,
                        check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        needed = set(result.stdout.split())
        installed = packages(self.image)
        added = installed - packages(base_image())
        print(f"runtime stage adds {len(added)} packages: {' '.join(sorted(added))}")
        self.assertEqual(needed - installed, set(), "linked but not installed")
        unexplained = added - closure(needed, depends(self.image))
        self.assertEqual(unexplained, set(), "installed, but the binary does not link them "
                         f"(nor need what it links): ldd gives {sorted(needed)}")
        self.assertNotEqual(added, set())  # the binary links more than the base has

    def test_binary_is_this_trees(self):
        out = podman("run", "--rm", self.image, "--version").stdout
        revision = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO,
                                  capture_output=True, text=True).stdout.strip()
        self.assertRegex(revision, r"^[0-9a-f]{12}$")
        self.assertEqual(out.strip(), f"tcpq_exporter version 0.1.0 revision {revision}")

    def test_tls_works_in_the_image(self):
        require_root(self)
        fixtures = os.path.join(REPO, "tests", "fixtures", "web_config")
        with tempfile.TemporaryDirectory() as config:
            for name in ("server.crt", "server.key"):
                shutil.copy(os.path.join(fixtures, name), config)
            with open(os.path.join(config, "web.yml"), "w") as f:
                f.write("tls_server_config:\n  cert_file: server.crt\n"
                        "  key_file: server.key\n")
            port = free_port()
            name = f"tcpq-tls-{os.getpid()}"
            podman("run", "-d", "--name", name, "--network", "host", "--read-only",
                   "-v", f"{config}:/config:ro", self.image,
                   f"--web.listen-address=127.0.0.1:{port}", "--web.config.file=/config/web.yml",
                   "--netns=host", "--no-collector.bpf")
            try:
                context = ssl.create_default_context(cafile=os.path.join(fixtures, "server.crt"))
                context.check_hostname = False
                status = self.https_status(f"https://127.0.0.1:{port}/-/healthy", context)
                self.assertEqual(status, 200, podman("logs", name, check=False).stderr)
            finally:
                podman("rm", "--force", "--ignore", name, check=False)

    @staticmethod
    def https_status(url, context):
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(url, context=context, timeout=5) as r:
                    return r.status
            except (urllib.error.URLError, ConnectionError) as e:
                if time.monotonic() > deadline:
                    return str(e)
                time.sleep(0.1)


if __name__ == "__main__":
    main()
