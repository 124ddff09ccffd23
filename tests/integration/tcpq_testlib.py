"""Shared pieces of the integration tests: throwaway network namespaces, the
real exporter binary, and a parser for the exposition it serves."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def require_root(test):
    """Skips (never passes silently) when the kernel work is not possible."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root for network namespaces and sock_diag")
    if shutil.which("ip") is None:
        raise unittest.SkipTest("needs iproute2's ip")


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value} for every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise AssertionError(f"unparsable exposition line: {line!r}")
        labels = dict(_LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return samples


def select(samples, name, **labels):
    """Samples of `name` whose labels include `labels`: [(labels, value)]."""
    out = []
    for (n, lset), value in samples.items():
        d = dict(lset)
        if n == name and all(d.get(k) == v for k, v in labels.items()):
            out.append((d, value))
    return out


def one(samples, name, **labels):
    found = select(samples, name, **labels)
    if len(found) != 1:
        raise AssertionError(f"expected one {name}{labels}, found {found}")
    return found[0][1]


def capabilities(pid, which="CapEff"):
    """A capability set of a process (CapEff, CapBnd, ...) as a bit mask."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{which}:"):
                return int(line.split()[1], 16)
    raise AssertionError(f"no {which} in /proc/{pid}/status")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_stable(read, attempts=50):
    """Reads twice until two reads agree: counters that settled."""
    previous = read()
    for _ in range(attempts):
        time.sleep(0.1)
        current = read()
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"values never settled: {previous}")


class Netns:
    """A named network namespace with loopback up, deleted on exit."""

    def __init__(self, tag):
        self.name = f"tcpq-it-{tag}-{os.getpid()}"

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        self.inode = str(os.stat(f"/run/netns/{self.name}").st_ino)
        self._workloads = []
        return self

    def __exit__(self, *exc):
        for p in self._workloads:
            p.stdin.close()
            p.wait(timeout=10)
            p.stdout.close()
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def run(self, *cmd, check=True):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=check,
                              capture_output=True, text=True).stdout

    def workload(self, *args):
        """Starts workload.py in the namespace and waits until it is ready."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable,
             os.path.join(HERE, "workload.py"), *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            p.kill()
            raise AssertionError(f"workload {args} did not start")
        self._workloads.append(p)
        return p

    def netstat(self, field):
        """A TcpExt counter of this namespace, read by the kernel's own file."""
        lines = self.run("cat", "/proc/net/netstat").splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                return float(dict(zip(names.split()[1:], values.split()[1:]))[field])
        raise AssertionError("no TcpExt in /proc/net/netstat")

    def ss_listener(self, port):
        """(Recv-Q, Send-Q, drops) of the listener on `port` per `ss -tlnm`."""
        out = self.run("ss", "-tlnmH", f"sport = :{port}")
        m = re.search(r"LISTEN\s+(\d+)\s+(\d+).*?\bd(\d+)\)", out, re.S)
        if m is None:
            raise AssertionError(f"no listener on {port} in ss output: {out!r}")
        return tuple(int(x) for x in m.groups())


class ProcessNetns:
    """A network namespace that only its process holds, with no /run/netns
    entry (what a pod's looks like from /proc): workload.py ARGS under
    `unshare --net`, loopback up. Found through /proc/<pid>/ns/net only."""

    def __init__(self, *workload_args):
        self.args = [str(a) for a in workload_args]

    def __enter__(self):
        # unshare and sh exec: the Popen's pid ends up the workload itself.
        self.proc = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
             sys.executable, os.path.join(HERE, "workload.py"), *self.args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"workload {self.args} did not start")
        self.inode = str(os.stat(f"/proc/{self.proc.pid}/ns/net").st_ino)
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class Exporter:
    """The real tcpq_exporter binary on a free loopback port."""

    def __init__(self, *flags, wrapper=(), env=None):
        """`wrapper`: a command line the exporter's runs behind (e.g. capsh);
        `env`: variables added to the exporter's environment."""
        self.binary = os.environ.get("TCPQ_EXPORTER")
        if not self.binary:
            raise unittest.SkipTest("TCPQ_EXPORTER is not set (run through ctest)")
        self.port = free_port()
        self.flags = flags
        self.wrapper = list(wrapper)
        self.env = dict(os.environ, **(env or {}))

    def __enter__(self):
        self.proc = subprocess.Popen(
            [*self.wrapper, self.binary, f"--web.listen-address=127.0.0.1:{self.port}",
             *self.flags],
            stderr=subprocess.PIPE, text=True, env=self.env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exporter exited: {self.proc.stderr.read()}")
            try:
                if self.get("/-/ready")[0] == 200:
                    return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise AssertionError("exporter did not become ready")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.stderr = self.proc.communicate(timeout=10)[1]
        if self.proc.returncode != 0:
            raise AssertionError(f"exporter exit {self.proc.returncode}: {self.stderr}")

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def scrape_text(self):
        status, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        return body

    def scrape(self):
        return parse_exposition(self.scrape_text())


def main():
    """Runs the calling test module; exit 77 (CTest: skipped) when every test
    was skipped, so a test that could not run is never reported as passed."""
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    result = program.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        for test, reason in result.skipped:
            print(f"SKIPPED {test.id()}: {reason}", file=sys.stderr)
        sys.exit(77)
    sys.exit(0)
