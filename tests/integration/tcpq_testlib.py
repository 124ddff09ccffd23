"""Shared pieces of the integration tests: throwaway network namespaces, the
real exporter binary, a parser for the exposition it serves, and workloads
that look like pods, services or plain processes to it (real cgroups laid out
as the kubelet and systemd lay them out, kubelet-style /var/log trees)."""
import base64
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

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


def start_workload(args, prefix=()):
    """Starts workload.py ARGS behind `prefix` (e.g. ip netns exec NAME) and
    waits until it is ready; stop_workload(p) ends it."""
    p = subprocess.Popen(
        [*prefix, sys.executable, os.path.join(HERE, "workload.py"), *map(str, args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        p.kill()
        p.wait()
        raise AssertionError(f"workload {args} did not start")
    return p


def stop_workload(p):
    """Ends a workload (it exits when its stdin closes): its sockets close."""
    p.stdin.close()
    p.wait(timeout=10)
    p.stdout.close()


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
            stop_workload(p)
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def run(self, *cmd, check=True):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=check,
                              capture_output=True, text=True).stdout

    def workload(self, *args):
        """Starts workload.py in the namespace and waits until it is ready."""
        p = start_workload(args, prefix=("ip", "netns", "exec", self.name))
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

    def __init__(self, *workload_args, cgroup=None):
        """`cgroup`: a Cgroup to start it in (None: the caller's)."""
        self.args = [str(a) for a in workload_args]
        self.cgroup = cgroup

    def __enter__(self):
        # unshare and sh exec: the Popen's pid ends up the workload itself.
        argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                sys.executable, os.path.join(HERE, "workload.py"), *self.args]
        if self.cgroup is not None:
            argv = self.cgroup.command(argv)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
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

    def __init__(self, *flags, wrapper=(), env=None, auth=None):
        """`wrapper`: a command line the exporter's runs behind (e.g. capsh);
        `env`: variables added to the exporter's environment; `auth`: (user,
        password) that get() sends, for a --web.config.file with users."""
        self.binary = os.environ.get("TCPQ_EXPORTER")
        if not self.binary:
            raise unittest.SkipTest("TCPQ_EXPORTER is not set (run through ctest)")
        self.port = free_port()
        self.flags = flags
        self.wrapper = list(wrapper)
        self.env = dict(os.environ, **(env or {}))
        self.auth = auth

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
        self.proc.kill()
        raise AssertionError(f"exporter did not become ready: {self.proc.communicate()[1]}")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.stderr = self.proc.communicate(timeout=10)[1]
        if self.proc.returncode != 0:
            raise AssertionError(f"exporter exit {self.proc.returncode}: {self.stderr}")

    def get(self, path):
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
            if self.auth:
                token = base64.b64encode(":".join(self.auth).encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            with urllib.request.urlopen(request, timeout=10) as r:
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


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


class Daemon:
    """A Prometheus-family server on loopback, its log in a file."""

    def __init__(self, name, argv, port, workdir):
        self.name, self.port = name, port
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n"
                                     f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready in {seconds}s:\n{self.log_tail()}")

    def get(self, path, **params):
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return http_json(self.url + path + query)

    def log_tail(self, lines=40):
        if self.log.closed:  # stopped: the temporary directory may be gone
            return self.tail
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.tail = self.log_tail()
        self.log.close()


# A process that names itself (comm), optionally listens, and waits for its
# standard input to close.
HOLDER = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
held = []
if len(sys.argv) > 2:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen(8); held.append(s)
print("ready", flush=True)
sys.stdin.read()
"""


def cgroup_roots():
    """Where to make cgroups: the cgroup v2 mount and, on a v1 or hybrid
    host, the name=systemd and pids hierarchies (the kubelet's cgroupfs
    driver makes its paths in every hierarchy)."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[-1]
            if fstype == "cgroup2" or (fstype == "cgroup" and (
                    "name=systemd" in options.split(",") or "pids" in options.split(","))):
                roots.append(fields[4])
    return roots


class Cgroup:
    """A cgroup at `path` in every hierarchy, removed (with the processes
    moved back to the root) on exit."""

    def __init__(self, path):
        self.path = path.strip("/")

    def __enter__(self):
        self.dirs = [os.path.join(root, self.path) for root in cgroup_roots()]
        for d in self.dirs:
            os.makedirs(d, exist_ok=True)
        return self

    def add(self, pid):
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def command(self, argv):
        """`argv` started inside this cgroup: a shell moves itself in, then
        execs it. A process moved in after it started could be scraped first,
        and the exporter keeps a listener's owner until the listener changes."""
        procs = " ".join(shlex.quote(os.path.join(d, "cgroup.procs")) for d in self.dirs)
        return ["sh", "-c", f'for f in {procs}; do echo $$ > "$f" || exit 1; done; exec "$@"',
                "sh", *argv]

    def __exit__(self, *exc):
        for d in self.dirs:
            root = d[:-len(self.path) - 1]
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids = f.read().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    with open(os.path.join(root, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError:
                    pass  # exited meanwhile
            path = d
            while path != root:
                try:
                    os.rmdir(path)
                except OSError:
                    break  # shared with another test's cgroup
                path = os.path.dirname(path)


def root_cgroup(pid):
    """Moves a process to the root of every hierarchy: in no container and
    no service, whatever the test runner's own cgroup is."""
    for root in cgroup_roots():
        with open(os.path.join(root, "cgroup.procs"), "w") as f:
            f.write(str(pid))


class Holder:
    """HOLDER in namespace `ns` (None: the host's), started in `cgroup` (a
    Cgroup; None: the caller's), stopped by stop()."""

    def __init__(self, comm, port=None, ns=None, cgroup=None):
        cmd = [sys.executable, "-c", HOLDER, comm] + ([str(port)] if port else [])
        if ns is not None:
            cmd = ["ip", "netns", "exec", ns.name] + cmd
        if cgroup is not None:
            cmd = cgroup.command(cmd)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise AssertionError(f"holder {comm} did not start")
        self.pid = self.proc.pid

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def container_id():
    return uuid.uuid4().hex + uuid.uuid4().hex


class VarLog:
    """A kubelet-style log tree: pods/<namespace>_<pod>_<uid>/ and
    containers/<pod>_<namespace>_<container>-<id>.log (symlinks into pods/,
    as the kubelet makes them)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tcpq-varlog-")
        os.makedirs(os.path.join(self.dir, "pods"))
        os.makedirs(os.path.join(self.dir, "containers"))

    def pod(self, namespace, pod, uid, containers):
        pod_dir = os.path.join(self.dir, "pods", f"{namespace}_{pod}_{uid}")
        for name, cid in containers.items():
            os.makedirs(os.path.join(pod_dir, name), exist_ok=True)
            os.symlink(os.path.join(pod_dir, name, "0.log"),
                       os.path.join(self.dir, "containers", f"{pod}_{namespace}_{name}-{cid}.log"))
        os.makedirs(pod_dir, exist_ok=True)

    def remove_pod(self, namespace, pod, uid):
        shutil.rmtree(os.path.join(self.dir, "pods", f"{namespace}_{pod}_{uid}"))
        for entry in os.listdir(os.path.join(self.dir, "containers")):
            if entry.startswith(f"{pod}_{namespace}_"):
                os.unlink(os.path.join(self.dir, "containers", entry))

    def cleanup(self):
        shutil.rmtree(self.dir)


def systemd_pod_path(uid, cid):
    """The systemd cgroup driver's path of a container (burstable QoS)."""
    escaped = uid.replace("-", "_")
    return (f"kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{escaped}.slice/cri-containerd-{cid}.scope")


def cgroupfs_pod_path(uid, cid):
    """The cgroupfs driver's path of a container (besteffort QoS)."""
    return f"kubepods/besteffort/pod{uid}/{cid}"


def host_netns():
    return str(os.stat("/proc/self/ns/net").st_ino)


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
