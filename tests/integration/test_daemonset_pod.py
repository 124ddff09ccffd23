"""The DaemonSet's pod, run the way a user deploys it: the image built by
deploy/build-image.sh (ctest's container.build) is pushed to a local
registry, an overlay of deploy/kubernetes names it (the README's steps),
kubectl kustomize renders it, the DaemonSet controller's template -> Pod step
makes the pod, and `podman kube play` pulls the image and runs it with the
manifest's privileges (dropped capabilities, the runtime's default seccomp
profile, read-only root, host /proc, resource limits). Everything is checked
from outside, against the real kernel: probes, collectors, BPF programs, an
overflowing listener, and the same pod without each capability the manifest
adds."""
import contextlib
import os
import socket
import subprocess
import tempfile
import unittest
import urllib.request
import uuid

import kube_pod
from kube_pod import PROBE_OK, PlayedPod, Registry, podman
from tcpq_testlib import (Cgroup, Netns, ProcessNetns, VarLog, capabilities, container_id,
                          free_port, main, one, parse_exposition, require_root, select,
                          systemd_pod_path, wait_stable)

CAP_BITS = {"SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39}
# The test's namespaces besides the exporter's own (the host's): "named"
# (`ip netns add`, with the overflowing listener's process in it), "process"
# (no /run/netns entry, held by its process only, as a pod's), "bare" (named,
# no process, created after the pod started: reached only through the
# /host/run/netns mount and its HostToContainer propagation).
NAMESPACES = {"own", "named", "process", "bare"}
# Collectors that fail without one added capability, as this host shows it
# (kernel 6.18, podman 4.3 and its default seccomp profile), and what their
# log lines must name. "unseen": namespaces that then vanish from the
# metrics. A capability the manifest adds must have an entry here.
WITHOUT = {
    # setns() into other namespaces; and podman's (like Docker's) default
    # seccomp profile allows bpf() and perf_event_open() only with it.
    # The socket walk is a BPF iterator: it fails with the programs.
    "SYS_ADMIN": {"failing": {"bpf", "netstat", "snmp", "sockdiag", "sockets",
                              "sysctl"},
                  "log": "CAP_SYS_ADMIN", "unseen": NAMESPACES - {"own"}},
    # Both implied by CAP_SYS_ADMIN (bpf_capable(), perfmon_capable()): they
    # only matter where a runtime's seccomp profile allows bpf() without it.
    "BPF": {"failing": set(), "unseen": set()},
    "PERFMON": {"failing": set(), "unseen": set()},
    # /proc/<pid>/ns/net of processes with more capabilities: a namespace
    # found only through its process vanishes, and so do those processes
    # from the PIDs whose fds name the owners of listeners. No collector
    # fails; tcpq_netns_denied_processes counts them and discovery's one log
    # line names the capability.
    "SYS_PTRACE": {"failing": set(), "unseen": {"process"}, "denied": True},
    # Not in this host's bounding set (never granted); kernels >= 5.11 charge
    # BPF maps to the memory cgroup, not RLIMIT_MEMLOCK.
    "SYS_RESOURCE": {"failing": set(), "unseen": set()},
}


def quantity(text):
    """A Kubernetes quantity as a number (the suffixes the manifest uses)."""
    for suffix, factor in (("Mi", 2**20), ("Gi", 2**30), ("m", 0.001)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * factor
    return float(text)


def read_number(path):
    with open(path) as f:
        return int(f.read())


class DaemonSetPodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root(cls)
        cls.image = kube_pod.image_under_test()
        cls.stack = contextlib.ExitStack()
        try:
            cls.set_up()
        except BaseException:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    @classmethod
    def set_up(cls):
        # README: build for your registry, push.
        registry = cls.stack.enter_context(Registry())
        cls.pushed = f"{registry.address}/tcpq_exporter:{cls.image.rsplit(':', 1)[1]}"
        subprocess_ok(os.path.join(kube_pod.REPO, "deploy", "build-image.sh"), cls.pushed)
        podman("push", "--tls-verify=false", cls.pushed)
        # Untagged here, so that kube play has to pull what was pushed.
        podman("rmi", cls.pushed)
        cls.stack.callback(podman, "rmi", "--ignore", cls.pushed, check=False)

        # README: an overlay naming that image, rendered as apply -k does.
        overlay = cls.stack.enter_context(tempfile.TemporaryDirectory())
        kube_pod.write_overlay(overlay, cls.pushed)
        cls.kubectls = kube_pod.kubectls()
        if "debian12" not in cls.kubectls:
            raise AssertionError("Debian 12's kubectl not found (scripts/install-deps.sh)")
        cls.rendered = {label: kube_pod.daemonset_of(kube_pod.render(kubectl, overlay))
                        for label, kubectl in cls.kubectls.items()}
        cls.daemonset = cls.rendered["debian12"]

        # Workloads on the host: a listener overflowing in a named namespace
        # (`ip netns add`, created before the pod like most are), one in a
        # namespace only its process holds, as a pod's: found through /proc,
        # in a cgroup laid out as the kubelet's systemd driver lays it out,
        # with the kubelet's log directory entries in the /var/log the pod
        # mounts (a directory of the test's, in place of the node's).
        cls.named = cls.stack.enter_context(Netns("pod"))
        cls.overflow_port = free_port()
        cls.named.workload("overflow", "--port", cls.overflow_port, "--backlog", 2,
                           "--connects", 20)
        cls.pod_uid, cls.container = str(uuid.uuid4()), container_id()
        cls.varlog = VarLog()
        cls.stack.callback(cls.varlog.cleanup)
        cls.varlog.pod("shop", "checkout-7d9f", cls.pod_uid, {"server": cls.container})
        cgroup = cls.stack.enter_context(Cgroup(systemd_pod_path(cls.pod_uid, cls.container)))
        cls.process_port = free_port()
        cls.process = cls.stack.enter_context(
            ProcessNetns("listen", "--port", cls.process_port, "--backlog", 5, cgroup=cgroup))
        cls.own_netns = str(os.stat("/proc/self/ns/net").st_ino)
        cls.denied_to_root = denied_processes()

        cls.played = cls.stack.enter_context(cls.play(extra_args=["--tls-verify=false"]))
        cls.bare = cls.stack.enter_context(Netns("bare"))
        # The first scrape seeds the BPF socket counts of every namespace
        # (iter/tcp); the second is what steady scrapes see.
        cls.scrape_of(cls.played)
        cls.samples = cls.scrape_of(cls.played)

    @classmethod
    def play(cls, drop_capability=None, extra_args=()):
        """A new pod of the DaemonSet (a name of its own), played."""
        pod = kube_pod.pod_from_daemonset(cls.daemonset, socket.gethostname())
        return PlayedPod(kube_pod.for_podman(pod, free_port(), drop_capability,
                                             host_paths={"/var/log": cls.varlog.dir}),
                         extra_args)

    @staticmethod
    def scrape_of(played):
        port = played.container_spec["readinessProbe"]["httpGet"]["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return parse_exposition(r.read().decode())

    def seen(self, samples):
        """Which of the test's namespaces the metrics have."""
        names = {self.own_netns: "own", self.named.inode: "named",
                 self.process.inode: "process", self.bare.inode: "bare"}
        return {names[l["netns"]] for l, _ in select(samples, "tcpq_sysctl_net_core_somaxconn")
                if l["netns"] in names}

    def test_every_kubectl_renders_the_same_daemonset_with_the_pushed_image(self):
        self.assertEqual(len({repr(ds) for ds in self.rendered.values()}), 1,
                         f"renderings differ between {list(self.kubectls)}")
        (container,) = self.daemonset["spec"]["template"]["spec"]["containers"]
        self.assertEqual(container["image"], self.pushed)

    def test_the_pod_runs_the_image_pulled_from_the_registry(self):
        built = podman("image", "inspect", "--format", "{{.Id}}", self.image).stdout.strip()
        ran = podman("inspect", "--format", "{{.Image}} {{.ImageName}}",
                     self.played.container).stdout.split()
        self.assertEqual(ran, [built, self.pushed])

    def test_probes_as_declared_pass(self):
        """podman 4.3 turns livenessProbe into a healthcheck that runs curl
        inside the container (there is none in the image, and no systemd
        here to schedule it) and ignores readinessProbe: the probes are run
        here as kubelet runs them, from the node."""
        for name in ("readinessProbe", "livenessProbe"):
            self.assertIn(kube_pod.probe(self.played.container_spec, name), PROBE_OK, name)

    def test_every_collector_succeeds(self):
        collectors = {l["collector"]: v for l, v in
                      select(self.samples, "tcpq_collector_success")}
        started = [l for l in self.played.current_logs().splitlines() if "starting" in l]
        self.assertEqual(len(started), 1, started)
        listed = started[0].split("collectors=")[1].split()[0].split(",")
        self.assertEqual(collectors, {c: 1 for c in listed})
        self.assertEqual(self.seen(self.samples), NAMESPACES)

    def test_every_bpf_program_is_attached(self):
        attached = {l["program"]: v for l, v in select(self.samples, "tcpq_bpf_program_attached")}
        self.assertGreater(len(attached), 0)
        self.assertEqual(attached, {p: 1 for p in attached})
        log = [l for l in self.played.current_logs().splitlines() if "bpf programs attached" in l]
        self.assertEqual(len(log), 1)
        for program in attached:
            self.assertIn(f" {program}=", log[0])

    def test_overflowing_listener_shows_its_drops(self):
        ns, port = self.named, self.overflow_port

        def kernel_view():
            return ns.ss_listener(port), ns.netstat("ListenOverflows")

        for _ in range(20):
            before = wait_stable(kernel_view)
            samples = self.scrape_of(self.played)
            if kernel_view() == before:
                break
        else:
            self.fail("kernel counters kept moving during every scrape")
        (recv_q, send_q, drops), overflows = before
        labels = {"netns": ns.inode, "addr": "127.0.0.1", "port": str(port)}
        self.assertEqual((recv_q, send_q), (3, 2))
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **labels), 3)
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit", **labels), 2)
        self.assertGreater(drops, 0)
        self.assertEqual(one(samples, "tcpq_listener_drops_total", **labels), drops)
        self.assertEqual(one(samples, "tcpq_netstat_listen_overflows_total", netns=ns.inode),
                         overflows)

    def test_namespace_held_only_by_a_process_is_found(self):
        self.assertEqual(one(self.samples, "tcpq_listener_accept_queue_limit",
                             netns=self.process.inode, port=str(self.process_port)), 5)

    def test_a_pods_namespace_and_listener_are_named_by_pod(self):
        """What the node alone tells: the pod UID and container from the
        process's cgroup, the names from the kubelet's /var/log entries."""
        self.assertEqual(select(self.samples, "tcpq_netns_info", netns=self.process.inode), [(
            {"netns": self.process.inode, "pod_uid": self.pod_uid,
             "container_id": self.container, "namespace": "shop", "pod": "checkout-7d9f"},
            1)])
        self.assertEqual(
            select(self.samples, "tcpq_listener_info", netns=self.process.inode), [(
                {"netns": self.process.inode, "addr": "127.0.0.1",
                 "port": str(self.process_port), "process": "python3",
                 "container": "server", "container_id": self.container,
                 "pod": "checkout-7d9f", "namespace": "shop"}, 1)])

    def test_namespace_named_after_the_pod_started_is_found_by_name(self):
        info = select(self.samples, "tcpq_netns_info", netns=self.bare.inode)
        self.assertEqual([(l.get("name"), v) for l, v in info], [(self.bare.name, 1)])

    def test_resource_limits_apply_as_declared(self):
        limits = self.played.container_spec["resources"]["limits"]
        memory = self.played.cgroup_dir("memory")
        self.assertEqual(read_number(f"{memory}/memory.limit_in_bytes"),
                         quantity(limits["memory"]))
        cpu = self.played.cgroup_dir("cpu")
        self.assertAlmostEqual(read_number(f"{cpu}/cpu.cfs_quota_us") /
                               read_number(f"{cpu}/cpu.cfs_period_us"), quantity(limits["cpu"]))

    def test_each_added_capability_dropped(self):
        """The same pod without one of the capabilities the manifest adds:
        it still serves, tcpq_collector_success names what failed, the log
        names the capability, and the namespaces it can still read are
        there."""
        added = self.played.container_spec["securityContext"]["capabilities"]["add"]
        self.assertEqual(set(added), set(WITHOUT), "a capability without an expectation")
        full_caps = capabilities(self.played.state()[1])
        for capability in added:
            with self.subTest(without=capability), self.play(capability) as played:
                expected = WITHOUT[capability]
                caps = capabilities(played.state()[1])
                bit = 1 << CAP_BITS[capability]
                self.assertEqual(caps, full_caps & ~bit)
                bounding = capabilities("self", "CapBnd")
                self.assertEqual(bool(full_caps & bit), bool(bounding & bit))
                self.scrape_of(played)
                samples = self.scrape_of(played)
                self.assertIn(kube_pod.probe(played.container_spec, "readinessProbe"), PROBE_OK)
                self.assertIn(kube_pod.probe(played.container_spec, "livenessProbe"), PROBE_OK)
                success = {l["collector"]: v for l, v in
                           select(samples, "tcpq_collector_success")}
                failing = {c for c, v in success.items() if v == 0}
                self.assertEqual(failing, expected["failing"])
                self.assertEqual(self.seen(samples), NAMESPACES - expected["unseen"])
                denied = one(samples, "tcpq_netns_denied_processes")
                if expected.get("denied"):
                    self.assertGreater(denied, self.denied_to_root)
                else:
                    self.assertEqual(denied, self.denied_to_root)
                problems = [l for l in played.current_logs().splitlines()
                            if "level=warn" in l or "level=error" in l]
                collector_lines = [l for l in problems if "collector=" in l]
                self.assertEqual(
                    sorted(l.split("collector=")[1].split()[0] for l in collector_lines),
                    sorted(failing), problems)
                for line in collector_lines:
                    self.assertIn(expected["log"], line)
                # Discovery's one line whenever a process was refused.
                discovery_lines = [l for l in problems if "collector=" not in l]
                self.assertEqual(len(discovery_lines), 1 if denied > 0 else 0, problems)
                for line in discovery_lines:
                    self.assertIn("CAP_SYS_PTRACE", line)
                attached = [v for _, v in select(samples, "tcpq_bpf_program_attached")]
                self.assertEqual(set(attached), {0 if "bpf" in failing else 1})


def denied_processes():
    """Processes whose /proc/<pid>/ns/net even this test, as root, may not
    look at: the pod's exporter cannot either, with every capability
    (here: the VM's init, whose permitted set holds CAP_SYS_RESOURCE, which
    this host's bounding set lacks)."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            os.stat(f"/proc/{pid}/ns/net")
        except PermissionError:
            count += 1
        except OSError:
            pass  # exited meanwhile
    return count


def subprocess_ok(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{cmd}: exit {result.returncode}\n{result.stdout}{result.stderr}")


if __name__ == "__main__":
    main()
