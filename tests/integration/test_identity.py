"""Workload identity from the node alone: processes placed in real cgroups
laid out as the kubelet lays them out (systemd and cgroupfs drivers), and
kubelet-style /var/log/pods and /var/log/containers trees in a temporary
--path.varlog, name the pod of a namespace and the owner of each listener."""
import os
import unittest
import uuid

from tcpq_testlib import (Cgroup, Exporter, Holder, Netns, VarLog, cgroup_roots,
                          cgroupfs_pod_path, container_id, free_port, host_netns, main, one,
                          require_root, root_cgroup, select, systemd_pod_path)

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
