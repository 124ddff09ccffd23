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
        raise unittest.SkipTest("needs ip (Debian package iproute2)")


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


STRICT = os.environ.get("CI") == "true"


class CheckResult(unittest.TextTestResult):
    """Records each test method as one check: pass, fail or skip (with its
    reason). With CI=true a skip is a failure naming what was missing: CI
    installs everything the tests need (scripts/install-deps.sh), so a skip
    there hides a broken machine."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = []  # (status, test or fixture, reason)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes.append(("pass", test, ""))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes.append(("fail", test, _first_line(err)))

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes.append(("fail", test, _first_line(err)))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:  # a passing subtest leaves the outcome to its test
            self.outcomes.append(("fail", test, _first_line(err)))

    def addSkip(self, test, reason):
        if STRICT:
            try:
                raise AssertionError(f"CI=true forbids skipping: {reason}") from None
            except AssertionError:
                self.addFailure(test, sys.exc_info())
            return
        super().addSkip(test, reason)
        self.outcomes.append(("skip", test, reason))


def _first_line(err):
    lines = str(err[1]).strip().splitlines()
    return f"{err[0].__name__}: {lines[0] if lines else ''}"


def _test_ids(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _test_ids(item)
        else:
            yield item.id()


_FIXTURE = re.compile(r"^(?:setUpClass|setUpModule) \((.+)\)$")


class CheckRunner(unittest.TextTestRunner):
    """Notes the id of every test before running them (a suite drops its
    tests as they finish)."""
    resultclass = CheckResult

    def run(self, test):
        self.ids = list(_test_ids(test))
        return super().run(test)


def checks(ids, outcomes):
    """[(status, test id, reason)], one per test id, in order.
    The worst outcome of a test wins (a failing subtest fails it). A skip or
    failure of setUpClass / setUpModule counts for each test it kept from
    running; any other fixture outcome (tearDownClass) is a check of its
    own."""
    rank = {"pass": 0, "skip": 1, "fail": 2}
    by_id, extra = {}, []
    for status, test, reason in outcomes:
        if isinstance(test, unittest.TestCase):
            targets = [test.id()]
        else:  # a class or module fixture (unittest's _ErrorHolder)
            m = _FIXTURE.match(str(test))
            scope = m.group(1) + "." if m else None
            targets = [i for i in ids if scope and i.startswith(scope)
                       and i not in by_id]
            if not targets:
                extra.append((status, str(test), reason))
                continue
        for i in targets:
            if i not in by_id or rank[status] > rank[by_id[i][0]]:
                by_id[i] = (status, reason)
    never_ran = [(i, ("fail", "never ran")) for i in ids if i not in by_id]
    ordered = [(i, by_id[i]) for i in ids if i in by_id] + never_ran
    return [(status, i.removeprefix("__main__."), reason)
            for i, (status, reason) in ordered] + extra


def write_checks(results):
    """One line per check, "STATUS<TAB>NAME<TAB>REASON", to $TCPQ_CHECKS_FILE
    (CTest sets it; scripts/summarize_junit.py adds the lines up)."""
    path = os.environ.get("TCPQ_CHECKS_FILE")
    if not path:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for status, name, reason in results:
            reason = " ".join(reason.split())
            f.write(f"{status}\t{name}\t{reason}\n")


def main():
    """Runs the calling test module, each test method one check. Exit 1 when
    a check failed, 77 (CTest: skipped) when every check was skipped, so a
    test that could not run is never reported as passed."""
    runner = CheckRunner(verbosity=2)
    program = unittest.main(module="__main__", exit=False, testRunner=runner)
    results = checks(runner.ids, program.result.outcomes)
    write_checks(results)
    count = {s: sum(1 for r in results if r[0] == s) for s in ("pass", "fail", "skip")}
    for status, name, reason in results:
        if status == "skip":
            print(f"SKIPPED {name}: {reason}", file=sys.stderr)
    print(f"checks: {count['pass']} passed, {count['fail']} failed, "
          f"{count['skip']} skipped", file=sys.stderr)
    if count["fail"] or not results:
        sys.exit(1)
    sys.exit(77 if count["skip"] == len(results) else 0)
