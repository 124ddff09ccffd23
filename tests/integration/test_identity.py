"""Workload identity from the node alone: processes placed in real cgroups
laid out as the kubelet lays them out (systemd and cgroupfs drivers), and
kubelet-style /var/log/pods and /var/log/containers trees in a temporary
--path.varlog, name the pod of a namespace and the owner of each listener."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from tcpq_testlib import Exporter, Netns, free_port, main, one, require_root, select

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
    """HOLDER in namespace `ns` (None: the host's), stopped on exit."""

    def __init__(self, comm, port=None, ns=None):
        cmd = [sys.executable, "-c", HOLDER, comm] + ([str(port)] if port else [])
        if ns is not None:
            cmd = ["ip", "netns", "exec", ns.name] + cmd
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


class IdentityTest(unittest.TestCase):
    def setUp(self):
        require_root(self)
        if not cgroup_roots():
            self.skipTest("no cgroup hierarchy is mounted")
        self.varlog = VarLog()
        self.addCleanup(self.varlog.cleanup)

    def exporter(self):
        return Exporter(f"--path.varlog={self.varlog.dir}")

    def test_pod_namespace_and_its_listener_systemd_driver(self):
        uid, sandbox, app = str(uuid.uuid4()), container_id(), container_id()
        self.varlog.pod("shop", "checkout-7d9f", uid, {"server": app})
        port = free_port()
        with Netns("pod") as ns, \
                Cgroup(systemd_pod_path(uid, sandbox)) as sandbox_cg, \
                Cgroup(systemd_pod_path(uid, app)) as app_cg, self.exporter() as exporter:
            pause = Holder("pause", ns=ns)
            sandbox_cg.add(pause.pid)
            server = Holder("tcpq-server", port, ns=ns)
            app_cg.add(server.pid)
            try:
                samples = exporter.scrape()
                self.assertEqual(select(samples, "tcpq_netns_info", netns=ns.inode), [(
                    {"netns": ns.inode, "name": ns.name, "pod_uid": uid,
                     "container_id": sandbox, "namespace": "shop", "pod": "checkout-7d9f"},
                    1)])
                self.assertEqual(select(samples, "tcpq_listener_info", netns=ns.inode), [(
                    {"netns": ns.inode, "addr": "127.0.0.1", "port": str(port),
                     "process": "tcpq-server", "container": "server", "container_id": app,
                     "pod": "checkout-7d9f", "namespace": "shop"}, 1)])
                self.assertEqual(one(samples, "tcpq_collector_success", collector="sockdiag"),
                                 1)
            finally:
                server.stop()
                pause.stop()

    def test_host_network_pod_listener_cgroupfs_driver(self):
        """A hostNetwork pod shares the host's namespace: only the
        listener's owner can name it."""
        uid, app = str(uuid.uuid4()), container_id()
        self.varlog.pod("edge", "ingress-abcde", uid, {"controller": app})
        port = free_port()
        with Cgroup(cgroupfs_pod_path(uid, app)) as cg, self.exporter() as exporter:
            server = Holder("tcpq-ingress", port)
            cg.add(server.pid)
            try:
                self.assertEqual(
                    select(exporter.scrape(), "tcpq_listener_info", port=str(port)), [(
                        {"netns": host_netns(), "addr": "127.0.0.1", "port": str(port),
                         "process": "tcpq-ingress", "container": "controller",
                         "container_id": app, "pod": "ingress-abcde", "namespace": "edge"},
                        1)])
            finally:
                server.stop()

    def test_systemd_service_and_plain_process(self):
        service_port, plain_port = free_port(), free_port()
        unit = f"tcpq-test-{os.getpid()}.service"
        with Cgroup(f"system.slice/{unit}") as cg, self.exporter() as exporter:
            service = Holder("tcpq-daemon", service_port)
            cg.add(service.pid)
            plain = Holder("tcpq-plain", plain_port)
            root_cgroup(plain.pid)
            try:
                samples = exporter.scrape()
                self.assertEqual(select(samples, "tcpq_listener_info", port=str(service_port)),
                                 [({"netns": host_netns(), "addr": "127.0.0.1",
                                    "port": str(service_port), "process": "tcpq-daemon",
                                    "unit": unit}, 1)])
                self.assertEqual(select(samples, "tcpq_listener_info", port=str(plain_port)),
                                 [({"netns": host_netns(), "addr": "127.0.0.1",
                                    "port": str(plain_port), "process": "tcpq-plain"}, 1)])
            finally:
                service.stop()
                plain.stop()

    def test_a_restarted_listener_shows_its_new_owner_in_the_next_scrape(self):
        port = free_port()
        with Netns("restart") as ns, self.exporter() as exporter:
            old = Holder("tcpq-old", port, ns=ns)
            self.assertEqual(one(exporter.scrape(), "tcpq_listener_info", netns=ns.inode,
                                 process="tcpq-old"), 1)
            old.stop()
            new = Holder("tcpq-new", port, ns=ns)
            try:
                self.assertEqual(
                    [labels["process"] for labels, _ in
                     select(exporter.scrape(), "tcpq_listener_info", netns=ns.inode)],
                    ["tcpq-new"])
            finally:
                new.stop()

    def test_a_pod_made_again_under_its_name_gets_its_new_uid(self):
        old_uid, new_uid = str(uuid.uuid4()), str(uuid.uuid4())
        sandbox_old, sandbox_new = container_id(), container_id()
        with self.exporter() as exporter:
            self.varlog.pod("shop", "cart-0", old_uid, {})
            with Netns("old-pod") as old, Cgroup(systemd_pod_path(old_uid, sandbox_old)) as cg:
                pause = Holder("pause", ns=old)
                cg.add(pause.pid)
                self.assertEqual(one(exporter.scrape(), "tcpq_netns_info", netns=old.inode,
                                     pod="cart-0", pod_uid=old_uid), 1)
                pause.stop()
            self.varlog.remove_pod("shop", "cart-0", old_uid)
            self.varlog.pod("shop", "cart-0", new_uid, {})
            with Netns("new-pod") as new, Cgroup(systemd_pod_path(new_uid, sandbox_new)) as cg:
                pause = Holder("pause", ns=new)
                cg.add(pause.pid)
                try:
                    samples = exporter.scrape()
                    self.assertEqual([labels["pod_uid"] for labels, _ in
                                      select(samples, "tcpq_netns_info", pod="cart-0")],
                                     [new_uid])
                finally:
                    pause.stop()

    def test_hostile_names_are_logged_once_and_never_attribute(self):
        uid, cid = str(uuid.uuid4()), container_id()
        pods = os.path.join(self.varlog.dir, "pods")
        hostile = ["no-underscore", "a_b", "n" * 64 + "_pod_" + uid,
                   f'shop_we"ird\\name_{uid}', f"shop_line\nbreak_{uid}", f"Shop_UPPER_{uid}"]
        for name in hostile:
            os.makedirs(os.path.join(pods, name))
        os.symlink(os.path.join(pods, "loop"), os.path.join(pods, "loop"))
        os.symlink("/nonexistent", os.path.join(self.varlog.dir, "containers",
                                                f"p_ns_c-{cid[:10]}.log"))
        port = free_port()
        with Netns("hostile") as ns, Cgroup(systemd_pod_path(uid, cid)) as cg, \
                self.exporter() as exporter:
            pause = Holder("pause", port, ns=ns)
            cg.add(pause.pid)
            try:
                for _ in range(2):
                    samples = exporter.scrape()
                # The pod's UID is known from its cgroup, but no name is
                # attributed from a malformed directory.
                self.assertEqual(select(samples, "tcpq_netns_info", netns=ns.inode), [(
                    {"netns": ns.inode, "name": ns.name, "pod_uid": uid, "container_id": cid},
                    1)])
                self.assertEqual(select(samples, "tcpq_listener_info", netns=ns.inode), [(
                    {"netns": ns.inode, "addr": "127.0.0.1", "port": str(port),
                     "process": "pause", "container_id": cid}, 1)])
            finally:
                pause.stop()
        rejected = [line for line in exporter.stderr.splitlines()
                    if "not a kubelet log name" in line]
        self.assertEqual(len(rejected), len(hostile) + 2, "\n".join(rejected))
        self.assertTrue(all(line.startswith("ts=") for line in exporter.stderr.splitlines()))


if __name__ == "__main__":
    main()
