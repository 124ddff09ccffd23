"""The exporter's own pod never lends its labels to the data: a real
Prometheus scrapes the real exporter with the target labels that
prometheus-operator gives a ServiceMonitor's targets (the exporter pod's
namespace, pod, container, service, endpoint) and the relabelling read from
deploy/kubernetes/servicemonitor.yaml; a second job uses the README's plain
Kubernetes scrape config, its service discovery replaced by the labels that
discovery gives. In both, a host listener's series has no namespace, pod or
container, and a pod's listener keeps its own (never exported_namespace).
A third job, the operator's labels without those rules, shows what they
prevent, so the test cannot pass with rules that do nothing."""
import json
import os
import re
import tempfile
import time
import unittest
import uuid

import yaml_subset
from tcpq_testlib import (HERE, Cgroup, Daemon, Exporter, Holder, Netns, VarLog, cgroup_roots,
                          container_id, free_port, host_netns, main, require_root,
                          systemd_pod_path)

PROMETHEUS = "/usr/bin/prometheus"
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SERVICEMONITOR = os.path.join(ROOT, "deploy", "kubernetes", "servicemonitor.yaml")
README = os.path.join(ROOT, "README.md")
NODE = "node-a"
# What prometheus-operator's own relabelings put on every target of the
# ServiceMonitor before its `relabelings` run: the scraped pod is the exporter.
OPERATOR_LABELS = {"namespace": "tcpq-exporter", "pod": "tcpq-exporter-abcde",
                   "container": "tcpq-exporter", "service": "tcpq-exporter",
                   "endpoint": "metrics", "__meta_kubernetes_pod_node_name": NODE}
# What Kubernetes pod discovery gives the exporter's pod (README config).
POD_SD_LABELS = {"__meta_kubernetes_namespace": "tcpq-exporter",
                 "__meta_kubernetes_pod_name": "tcpq-exporter-abcde",
                 "__meta_kubernetes_pod_node_name": NODE,
                 "__meta_kubernetes_pod_container_name": "tcpq-exporter",
                 "__meta_kubernetes_pod_container_port_name": "metrics",
                 "__meta_kubernetes_pod_label_app_kubernetes_io_name": "tcpq-exporter"}
POD = {"namespace": "shop", "pod": "checkout-7d9f", "container": "server"}
EXPORTER_POD_LABELS = ("namespace", "pod", "container", "service", "endpoint")


def unavailable(reason):
    """Skips, except in CI (CI=true), where a test that cannot run fails."""
    if os.environ.get("CI") == "true":
        raise AssertionError(f"{reason} (CI=true: a skipped test is a failure)")
    raise unittest.SkipTest(reason)


def snake(key):
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), key)


def servicemonitor_job(target):
    """The scrape config prometheus-operator makes of the ServiceMonitor's
    endpoint, with the operator's labels as static target labels: its
    honorLabels and its relabelings (run after the operator's), keys in
    Prometheus' snake_case, actions in lower case as the operator writes them."""
    with open(SERVICEMONITOR) as f:
        monitor = yaml_subset.load(f.read())
    (endpoint,) = monitor["spec"]["endpoints"]
    relabel = [{snake(k): (v.lower() if k == "action" else v) for k, v in rule.items()}
               for rule in endpoint.get("relabelings", [])]
    return {"job_name": "servicemonitor", "honor_labels": endpoint.get("honorLabels", False),
            "static_configs": [{"targets": [target], "labels": OPERATOR_LABELS}],
            "relabel_configs": relabel}


def readme_job(target):
    """The README's Kubernetes scrape config, pod discovery replaced by the
    labels it would give the exporter's pod."""
    with open(README) as f:
        blocks = re.findall(r"^```yaml\n(.*?)^```", f.read(), re.S | re.M)
    configs = [b for b in blocks if "kubernetes_sd_configs:" in b]
    if len(configs) != 1:
        raise AssertionError(f"README.md has {len(configs)} ```yaml blocks with "
                             "kubernetes_sd_configs, want one")
    (job,) = yaml_subset.load(configs[0])["scrape_configs"]
    if [sd["role"] for sd in job.pop("kubernetes_sd_configs")] != ["pod"]:
        raise AssertionError("the README's scrape config must discover pods (role: pod)")
    return {**job, "job_name": "readme",
            "static_configs": [{"targets": [target], "labels": POD_SD_LABELS}]}


class ScrapeRelabelTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        try:
            require_root(self)
        except unittest.SkipTest as e:
            unavailable(str(e))
        if not os.access(PROMETHEUS, os.X_OK):
            unavailable(f"{PROMETHEUS} missing (Debian package prometheus)")
        if not cgroup_roots():
            unavailable("no cgroup hierarchy is mounted")
        self.varlog = VarLog()
        self.addCleanup(self.varlog.cleanup)

    def test_host_series_get_no_exporter_labels_and_pod_series_keep_their_own(self):
        uid, sandbox, app = str(uuid.uuid4()), container_id(), container_id()
        self.varlog.pod(POD["namespace"], POD["pod"], uid, {POD["container"]: app})
        pod_port, host_port = free_port(), free_port()
        unit = f"tcpq-relabel-{os.getpid()}.service"
        with tempfile.TemporaryDirectory(prefix="tcpq-relabel-") as workdir, \
                Netns("relabel") as ns, \
                Cgroup(systemd_pod_path(uid, sandbox)) as sandbox_cg, \
                Cgroup(systemd_pod_path(uid, app)) as app_cg, \
                Cgroup(f"system.slice/{unit}") as unit_cg, \
                Exporter(f"--path.varlog={self.varlog.dir}") as exporter:
            holders = [Holder("pause", ns=ns, cgroup=sandbox_cg),
                       Holder("tcpq-server", pod_port, ns=ns, cgroup=app_cg),
                       Holder("tcpq-hostsvc", host_port, cgroup=unit_cg)]
            try:
                self.check(workdir, exporter, ns, pod_port, host_port, unit, app)
            finally:
                for h in holders:
                    h.stop()

    def check(self, workdir, exporter, ns, pod_port, host_port, unit, app):
        target = f"127.0.0.1:{exporter.port}"
        jobs = [servicemonitor_job(target), readme_job(target),
                # The operator's labels and nothing else: what the rules prevent.
                {"job_name": "operator-default",
                 "static_configs": [{"targets": [target], "labels": OPERATOR_LABELS}]}]
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            json.dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                       "scrape_configs": jobs}, f)
        port = free_port()
        prom = Daemon("prometheus", [
            PROMETHEUS, f"--config.file={config}",
            f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
            f"--web.listen-address=127.0.0.1:{port}"], port, workdir)
        try:
            prom.wait_ready()
            self.check_series(prom, ns, pod_port, host_port, unit, app)
        except BaseException:
            print(f"--- prometheus log (tail) ---\n{prom.log_tail()}")
            raise
        finally:
            prom.stop()

    def series(self, prom, job, selector):
        """The label sets of `selector` in `job`, waiting for its first scrape."""
        name, matchers = re.fullmatch(r"(\w+)\{(.*)\}", selector).groups()
        query = f'{name}{{job="{job}"{", " + matchers if matchers else ""}}}'
        deadline = time.monotonic() + 30
        while True:
            result = prom.get("/api/v1/query", query=query)
            found = [r["metric"] for r in result["data"]["result"]]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def check_series(self, prom, ns, pod_port, host_port, unit, app):
        host = {"netns": host_netns(), "addr": "127.0.0.1", "port": str(host_port)}
        pod = {"netns": ns.inode, "addr": "127.0.0.1", "port": str(pod_port)}
        listener = f'tcpq_listener_info{{port=~"{host_port}|{pod_port}"}}'
        for job in ("servicemonitor", "readme"):
            base = {"job": job, "instance": NODE}
            self.assertEqual({m["port"]: m for m in self.series(prom, job, listener)}, {
                str(host_port): {"__name__": "tcpq_listener_info", **base, **host,
                                 "process": "tcpq-hostsvc", "unit": unit},
                str(pod_port): {"__name__": "tcpq_listener_info", **base, **pod, **POD,
                                "process": "tcpq-server", "container_id": app}}, job)
            info = self.series(prom, job, f'tcpq_netns_info{{netns=~"{host_netns()}|{ns.inode}"}}')
            self.assertEqual({m["netns"]: {k: v for k, v in m.items() if k in EXPORTER_POD_LABELS}
                              for m in info},
                             {host_netns(): {}, ns.inode: {"namespace": POD["namespace"],
                                                          "pod": POD["pod"]}}, job)
            # A per-namespace counter of the host and the exporter's health.
            for selector in (f'tcpq_netstat_listen_overflows_total{{netns="{host_netns()}"}}',
                             'tcpq_collector_success{collector="sockdiag"}', 'up{}'):
                (metric,) = self.series(prom, job, selector)
                self.assertEqual({k: v for k, v in metric.items()
                                  if k not in ("__name__", "netns", "collector")}, base,
                                 f"{job}: {selector}")
        # Without the rules: the host listener is filed under the exporter's
        # namespace and the pod's own names are renamed exported_*.
        by_port = {m["port"]: m for m in self.series(prom, "operator-default", listener)}
        self.assertEqual({k: by_port[str(host_port)].get(k) for k in EXPORTER_POD_LABELS},
                         {k: OPERATOR_LABELS[k] for k in EXPORTER_POD_LABELS})
        self.assertEqual((by_port[str(pod_port)]["namespace"],
                          by_port[str(pod_port)]["exported_namespace"],
                          by_port[str(pod_port)]["exported_pod"]),
                         ("tcpq-exporter", POD["namespace"], POD["pod"]))


if __name__ == "__main__":
    main()
