"""End to end: the real exporter, a real Prometheus loading the real
alerts/tcpq.rules.yml and a real Alertmanager, all on loopback, with three
fresh network namespaces:

  overflow  a backlog-2 listener driven into overflow (e2e_workload.py) in a
            namespace that looks like a pod to the exporter (its processes
            in kubelet-style cgroups, the pod's kubelet-style log directories
            in --path.varlog): Alertmanager must receive the listener alerts
            naming that namespace, address and port and the workload (the
            pod's Kubernetes namespace and name, container, process), route
            them by Kubernetes namespace to that team's receiver, notify its
            webhook, and resolve them after the listener stops dropping and
            drains; the listener never accepts, so the socket walk's oldest
            accept-queue wait grows until TcpListenerAcceptQueueNotDrained
            fires, with the same labels, and resolves at the drain;
  near-full a backlog-100 listener holding 95 unaccepted connections and
            never dropping, owned by a systemd-style service:
            TcpListenerAcceptQueueNearFull fires (not inhibited, notified,
            naming the unit and process) while its drops and the namespace's
            ListenOverflows stay 0: the predictive alert comes before any drop;
            it never accepts either: TcpListenerAcceptQueueNotDrained too;
  dashboard background traffic (dashboard_workload.py) that gives every
            dashboard panel something to draw: every panel query of
            dashboards/*.json, variables filled in for this namespace, is run
            against this Prometheus (tests/ops/dashboard_queries.py
            --require-activity) and must return data, non-zero for rates.

Timeline (budgets come from the rules Prometheus loaded, never hard-coded):
  t0            the listener's accept queue is full and every connect is dropped
  t0 + for(D)   TcpListenerDroppingConnections fires       (D: rate(drops[w]) > 0)
  stop          connects stop: drops stop rising, the queue stays full
  t0 + T + for(Q) TcpListenerAcceptQueueNotDrained fires for both listeners
                (T: its threshold on the oldest wait, seen by a walk at most
                WALK_INTERVAL later)
  t0 + for(N)   TcpListenerAcceptQueueNearFull fires for both listeners; the
                overflowing one inhibited by D (README's suggested inhibit_rules)
                while D fires. Then the dashboard queries run.
  drain         both listeners accept everything: N and Q resolve at the next evaluation
  stop + w      D resolves (no drop left in its rate window), webhook gets "resolved"
TcpNamespaceListenOverflows never fires in the overflow namespace: its rule is
silent while a listener there reports the drops, and its window is D's, so it
does not page on its own after D resolves either.
Stopping the drops as soon as D fires (instead of at the drain) lets D's window
run out while N is still pending: about 3 minutes instead of 4.5.
"""
import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from tcpq_testlib import (HERE, Cgroup, Daemon, Exporter, Holder, Netns, VarLog, cgroup_roots,
                          container_id, free_port, main, one, require_root, select,
                          systemd_pod_path)

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
RULES = os.path.join(ROOT, "alerts", "tcpq.rules.yml")
README = os.path.join(ROOT, "README.md")
DASHBOARDS = os.path.join(ROOT, "dashboards")
DASHBOARD_QUERIES = os.path.join(ROOT, "tests", "ops", "dashboard_queries.py")

DROPPING = "TcpListenerDroppingConnections"
NEAR_FULL = "TcpListenerAcceptQueueNearFull"
NS_OVERFLOWS = "TcpNamespaceListenOverflows"
NOT_DRAINED = "TcpListenerAcceptQueueNotDrained"
EXPECTED = {DROPPING, NEAR_FULL, NOT_DRAINED}  # in the overflow namespace; never NS_OVERFLOWS
# --collector.sockets.interval of the exporter, seconds: how late a walk may
# see the oldest accept-queue wait pass the rule's threshold.
WALK_INTERVAL = 5
# Beyond a rule's own `for`/window: scrape (1 s) + evaluation (1 s) + the
# notification to Alertmanager, with room for a loaded 2-core machine.
SLACK = 30
JOB = "tcpq"
# The overflowing listener's pod, and the Alertmanager receiver its
# Kubernetes namespace routes to.
POD = {"namespace": "shop", "pod": "checkout-7d9f", "container": "server",
       "process": "checkout"}
TEAM_RECEIVER = "shop-team"


def duration_seconds(text):
    value, unit = re.fullmatch(r"(\d+)([smh])", text).groups()
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


class Webhook:
    """Alertmanager's webhook receiver: records every notification."""

    def __init__(self):
        self.notifications = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, netns):
        """[(status, alertname)] of every alert notified for `netns`, in order."""
        return [(a["status"], a["labels"]["alertname"]) for _, a in self.notified(netns)]

    def notified(self, netns):
        """[(receiver, alert)] of every alert notified for `netns`, in order."""
        with self.lock:
            return [(n["receiver"], a) for n in self.notifications for a in n["alerts"]
                    if a["labels"].get("netns") == netns]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dashboard_query_count():
    """How many queries dashboard_queries.py must run: every query variable
    and every panel target with an expression, of every dashboard."""
    count = 0
    for name in sorted(os.listdir(DASHBOARDS)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(DASHBOARDS, name)) as f:
            dash = json.load(f)
        count += sum(1 for v in dash.get("templating", {}).get("list", [])
                     if v.get("type") == "query")

        def targets(panels):
            return sum(sum(1 for t in p.get("targets", []) if t.get("expr"))
                       + targets(p.get("panels", [])) for p in panels)
        count += targets(dash.get("panels", []))
    return count


def readme_inhibit_rules():
    """The README's suggested `inhibit_rules:` YAML block, verbatim."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"^```yaml\n(inhibit_rules:\n.*?)^```", text, re.S | re.M)
    if m is None:
        raise AssertionError(f"{README} has no ```yaml inhibit_rules: block "
                             "(section 'Suggested Alertmanager inhibitions')")
    return m.group(1)


class E2EAlertingTest(unittest.TestCase):
    def setUp(self):
        require_root(self)
        if not cgroup_roots():
            raise unittest.SkipTest("no cgroup hierarchy is mounted")
        for binary in (PROMETHEUS, ALERTMANAGER):
            if not os.access(binary, os.X_OK):
                raise unittest.SkipTest(f"{binary} missing (Debian packages prometheus, "
                                        "prometheus-alertmanager)")
        if not os.environ.get("TCPQ_EXPORTER"):
            raise unittest.SkipTest("TCPQ_EXPORTER is not set (run through ctest)")
        self.start = time.monotonic()

    def progress(self, message):
        print(f"[{time.monotonic() - self.start:6.1f}s] {message}", flush=True)

    def test_overflowing_listener_pages_and_resolves(self):
        daemons = []
        try:
            with contextlib.ExitStack() as stack:
                self.run_scenario(stack, daemons)
        except BaseException:
            for d in daemons:
                print(f"--- {d.name} log (tail) ---\n{d.log_tail()}", file=sys.stderr)
            raise

    # The scenario; `stack` tears everything down in reverse order.
    def run_scenario(self, stack, daemons):
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="tcpq-e2e-"))
        ns = stack.enter_context(Netns("e2e"))
        nf_ns = stack.enter_context(Netns("e2enf"))
        dash_ns = stack.enter_context(Netns("e2edash"))
        # The overflow namespace is a pod's: its sandbox and its container
        # in kubelet-style cgroups (systemd driver), its log directories in
        # the exporter's --path.varlog. The near-full listener is a service's.
        varlog = VarLog()
        stack.callback(varlog.cleanup)
        pod_uid, sandbox_id, app_id = str(uuid.uuid4()), container_id(), container_id()
        varlog.pod(POD["namespace"], POD["pod"], pod_uid, {POD["container"]: app_id})
        sandbox_cg = stack.enter_context(Cgroup(systemd_pod_path(pod_uid, sandbox_id)))
        app_cg = stack.enter_context(Cgroup(systemd_pod_path(pod_uid, app_id)))
        unit = f"tcpq-e2e-{os.getpid()}.service"
        unit_cg = stack.enter_context(Cgroup(f"system.slice/{unit}"))
        exporter = stack.enter_context(Exporter(
            f"--path.varlog={varlog.dir}", f"--collector.sockets.interval={WALK_INTERVAL}s"))
        webhook = Webhook()
        stack.callback(webhook.close)

        am_port, prom_port = free_port(), free_port()
        while prom_port == am_port:
            prom_port = free_port()
        am_config = os.path.join(workdir, "alertmanager.yml")
        with open(am_config, "w") as f:
            # Block-style YAML with JSON (flow-style) values, then the README's
            # suggested inhibitions verbatim, so they are tested as documented.
            # Alerts of the pod's Kubernetes namespace go to its team.
            f.write("route: " + json.dumps({
                "receiver": "webhook", "group_by": ["..."],
                "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
                "routes": [{"receiver": TEAM_RECEIVER,
                            "matchers": [f'namespace="{POD["namespace"]}"']}]}) + "\n")
            f.write("receivers: " + json.dumps([
                {"name": name, "webhook_configs": [{"url": webhook.url, "send_resolved": True}]}
                for name in ("webhook", TEAM_RECEIVER)]) + "\n")
            f.write(readme_inhibit_rules())
        am = Daemon("alertmanager", [
            ALERTMANAGER, f"--config.file={am_config}",
            f"--storage.path={os.path.join(workdir, 'am-data')}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
            "--log.level=info"], am_port, workdir)
        daemons.append(am)
        stack.callback(am.stop)

        prom_config = os.path.join(workdir, "prometheus.yml")
        with open(prom_config, "w") as f:
            json.dump({
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                           "evaluation_interval": "1s"},
                "rule_files": [RULES],
                "alerting": {"alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [{"job_name": JOB, "static_configs": [
                    {"targets": [f"127.0.0.1:{exporter.port}"]}]}],
            }, f)
        prom = Daemon("prometheus", [
            PROMETHEUS, f"--config.file={prom_config}",
            f"--storage.tsdb.path={os.path.join(workdir, 'prom-data')}",
            f"--web.listen-address=127.0.0.1:{prom_port}"], prom_port, workdir)
        daemons.append(prom)
        stack.callback(prom.stop)

        am.wait_ready()
        prom.wait_ready()
        self.progress(f"alertmanager on :{am_port}, prometheus on :{prom_port}, "
                      f"exporter on :{exporter.port}; netns overflow {ns.name} = {ns.inode}, "
                      f"near-full {nf_ns.name} = {nf_ns.inode}, "
                      f"dashboard {dash_ns.name} = {dash_ns.inode}")
        instance = f"127.0.0.1:{exporter.port}"
        rules = self.check_prometheus(prom, am_port, instance)

        for_drop = rules[DROPPING]["duration"]
        window = max(duration_seconds(w) for w in
                     re.findall(r"\[(\d+[smh])\]", rules[DROPPING]["query"]))
        for_near = rules[NEAR_FULL]["duration"]
        for_not_drained = rules[NOT_DRAINED]["duration"]
        waited = float(re.search(r"tcpq_listener_accept_queue_oldest_seconds\[\w+\]\)\s*>\s*([\d.]+)",
                                 rules[NOT_DRAINED]["query"]).group(1))
        self.progress(f"budgets from the rules: {DROPPING} for {for_drop:g}s over a "
                      f"{window}s rate window; {NEAR_FULL} for {for_near:g}s; {NOT_DRAINED} "
                      f"for {for_not_drained:g}s once the oldest wait passes {waited:g}s")

        def start(netns, script, *args, cgroup=None):
            """A workload in `netns` (and in `cgroup` from its start), ended
            (standard input closed) on teardown; returns (process, its first
            JSON line)."""
            argv = ["ip", "netns", "exec", netns.name, sys.executable,
                    os.path.join(HERE, script), *map(str, args)]
            proc = subprocess.Popen(cgroup.command(argv) if cgroup else argv,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def end():
                proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                proc.stdout.close()
            stack.callback(end)
            ready = json.loads(proc.stdout.readline() or "null")
            self.assertTrue(ready and ready.get("ready"), f"{script} did not start")
            return proc, ready

        def command(proc, word):
            proc.stdin.write(word + "\n")
            proc.stdin.flush()
            reply = json.loads(proc.stdout.readline() or "null")
            self.assertIsNotNone(reply, f"workload died on {word!r}")
            return reply

        # Traffic for the dashboards first: a minute of it by the time they
        # are queried.
        _, dash_ready = start(dash_ns, "dashboard_workload.py")
        self.progress(f"dashboard workload running in {dash_ns.inode}: {dash_ready['ports']}")

        # The listener held near full, never dropping, by a service.
        nf_port = free_port()
        nf_workload, _ = start(nf_ns, "e2e_workload.py", "--port", nf_port, "--backlog", 100,
                               "--hold", 95, "--no-overflow", "--comm", "nearfull",
                               cgroup=unit_cg)
        nf_labels = {"netns": nf_ns.inode, "addr": "127.0.0.1", "port": str(nf_port)}
        nf_owner = {"process": "nearfull", "unit": unit}

        # The overflowing listener, in the pod: the sandbox first, so that it
        # is the namespace's lowest PID (what names the namespace).
        pause = Holder("pause", ns=ns, cgroup=sandbox_cg)
        stack.callback(pause.stop)
        port = free_port()
        workload, _ = start(ns, "e2e_workload.py", "--port", port, "--backlog", 2,
                            "--seconds", int(for_drop + 2 * SLACK + 60),
                            "--comm", POD["process"], cgroup=app_cg)
        t0 = time.monotonic()  # the queue filled and the drops began just before
        labels = {"netns": ns.inode, "addr": "127.0.0.1", "port": str(port)}
        samples = exporter.scrape()
        # What the rules join: the exporter names the pod and the owners.
        self.assertEqual(select(samples, "tcpq_netns_info", netns=ns.inode), [(
            {"netns": ns.inode, "name": ns.name, "pod_uid": pod_uid, "container_id": sandbox_id,
             "namespace": POD["namespace"], "pod": POD["pod"]}, 1)])
        self.assertEqual(select(samples, "tcpq_listener_info", **labels),
                         [({**labels, **POD, "container_id": app_id}, 1)])
        self.assertEqual(select(samples, "tcpq_listener_info", **nf_labels),
                         [({**nf_labels, **nf_owner}, 1)])
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **labels), 3)
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit", **labels), 2)
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **nf_labels), 95)
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_limit", **nf_labels), 100)
        self.progress(f"listener 127.0.0.1:{port} overflowing (queue 3/2, drops "
                      f"{one(samples, 'tcpq_listener_drops_total', **labels):g}); "
                      f"listener 127.0.0.1:{nf_port} near full (queue 95/100)")

        seen = {ns.inode: set(), nf_ns.inode: set()}  # every alert name ever seen

        def am_alerts():
            """Alertmanager's unresolved alerts for the overflow and near-full
            namespaces: {netns: {alertname: alert}}."""
            found = {netns: {} for netns in seen}
            for a in am.get("/api/v2/alerts"):
                netns = a["labels"].get("netns")
                if netns in found:
                    found[netns][a["labels"]["alertname"]] = a
                    seen[netns].add(a["labels"]["alertname"])
            return found

        def report(found):
            prom_states = {}
            for a in prom.get("/api/v1/alerts")["data"]["alerts"]:
                if a["labels"].get("netns") in seen:
                    prom_states.setdefault(a["labels"]["netns"], {})[
                        a["labels"]["alertname"]] = a["state"]
            drops = exporter.scrape()
            self.progress(
                f"prometheus {prom_states or '{}'}; alertmanager "
                f"{ {n: {k: a['status']['state'] for k, a in f.items()} for n, f in found.items()} }; "
                f"drops {one(drops, 'tcpq_listener_drops_total', **labels):g} / "
                f"{one(drops, 'tcpq_listener_drops_total', **nf_labels):g}")

        def diagnosis():
            """Why an alert may be late: failed or slow scrapes (a failed scrape
            ends every series, so a pending alert starts over), slow rule
            evaluations, alerts that started pending again."""
            found = {}
            for name, query in (
                    ("failed scrapes", f'count_over_time(up{{job="{JOB}"}}[10m])'
                                       f' - sum_over_time(up{{job="{JOB}"}}[10m])'),
                    ("slowest scrape", f'max_over_time(scrape_duration_seconds{{job="{JOB}"}}[10m])'),
                    ("slowest rule group", 'max_over_time(prometheus_rule_group_last_duration_seconds[10m])'),
                    ("pending restarts", 'changes(ALERTS_FOR_STATE[10m])')):
                result = prom.get("/api/v1/query", query=query)["data"]["result"]
                found[name] = [({k: v for k, v in r["metric"].items()
                                 if k in ("alertname", "netns", "rule_group")}, r["value"][1])
                               for r in result]
            return found

        def wait_until(what, deadline, condition):
            next_report = 0
            while True:
                found = am_alerts()
                result = condition(found)
                if result:
                    return found
                now = time.monotonic()
                if now > deadline:
                    report(found)
                    self.fail(f"timed out waiting for {what}; {diagnosis()}")
                if now >= next_report:
                    report(found)
                    next_report = now + 10
                time.sleep(0.5)

        # 1. Dropping fires once drops have risen for its `for`.
        found = wait_until(f"{DROPPING} in alertmanager", t0 + for_drop + SLACK,
                           lambda f: DROPPING in f[ns.inode])[ns.inode]
        fired = time.monotonic() - t0
        self.progress(f"{DROPPING} in alertmanager after {fired:.1f}s")
        self.assertGreaterEqual(fired, for_drop - 1, "fired before its `for`")
        dropping = found[DROPPING]
        self.check_alert(dropping, rules[DROPPING], instance,
                         {**labels, **POD, "alertname": DROPPING})
        self.assertEqual(dropping["status"]["state"], "active")
        self.assertRegex(dropping["annotations"]["description"],
                         r"dropping \d+\.\d\d connection attempts per second")
        self.wait_webhook(webhook, ns.inode, ("firing", DROPPING), t0 + fired + SLACK)
        # Routed by its Kubernetes namespace, with the labels Alertmanager has.
        self.assertEqual([(receiver, a["labels"]) for receiver, a in webhook.notified(ns.inode)
                          if a["labels"]["alertname"] == DROPPING],
                         [(TEAM_RECEIVER, dropping["labels"])])

        # 2. Stop the drops; the queue stays full, so NearFull keeps pending.
        reply = command(workload, "stop")
        t_stop = time.monotonic()
        drops = one(exporter.scrape(), "tcpq_listener_drops_total", **labels)
        self.assertGreaterEqual(drops, reply["connects"])
        self.progress(f"stopped connecting after {reply['connects']} connects, "
                      f"{drops:g} drops")

        # Neither listener has accepted anything: the oldest wait in their
        # queues passes the threshold, a walk sees it, and `for` runs out.
        def not_drained_ready(f):
            return all(NOT_DRAINED in f[n] for n in (ns.inode, nf_ns.inode))
        found = wait_until(f"{NOT_DRAINED} for both listeners",
                           t0 + waited + WALK_INTERVAL + for_not_drained + SLACK, not_drained_ready)
        fired = time.monotonic() - t0
        self.progress(f"{NOT_DRAINED} in alertmanager for both listeners after {fired:.1f}s")
        self.assertGreaterEqual(fired, waited + for_not_drained - 1,
                                "fired before the wait passed its threshold for its `for`")
        for netns, want, receiver in ((ns.inode, {**labels, **POD}, TEAM_RECEIVER),
                                      (nf_ns.inode, {**nf_labels, **nf_owner}, "webhook")):
            alert = found[netns][NOT_DRAINED]
            self.check_alert(alert, rules[NOT_DRAINED], instance,
                             {**want, "alertname": NOT_DRAINED})
            self.assertEqual(alert["status"]["state"], "active")
            wait = re.search(r" has waited (?:(\d+)m )?([\d.]+)s for accept\(\)",
                             alert["annotations"]["description"])
            self.assertIsNotNone(wait, alert["annotations"]["description"])
            self.assertGreater(int(wait.group(1) or 0) * 60 + float(wait.group(2)), waited)
            self.wait_webhook(webhook, netns, ("firing", NOT_DRAINED), time.monotonic() + SLACK)
            self.assertEqual([(r, a["labels"]) for r, a in webhook.notified(netns)
                              if a["labels"]["alertname"] == NOT_DRAINED],
                             [(receiver, alert["labels"])])

        def near_full_ready(f):
            return all(NEAR_FULL in f[n] and f[n][NEAR_FULL]["status"]["state"] != "unprocessed"
                       for n in (ns.inode, nf_ns.inode))
        found = wait_until(f"{NEAR_FULL} for both listeners", t0 + for_near + SLACK,
                           near_full_ready)
        fired = time.monotonic() - t0
        self.progress(f"{NEAR_FULL} in alertmanager for both listeners after {fired:.1f}s")
        self.assertGreaterEqual(fired, for_near - 1, "fired before its `for`")
        self.assertEqual(one(exporter.scrape(), "tcpq_listener_drops_total", **labels),
                         drops, "drops kept rising after stop")
        near = found[ns.inode][NEAR_FULL]
        self.check_alert(near, rules[NEAR_FULL], instance,
                         {**labels, **POD, "alertname": NEAR_FULL})
        # 3 queued with a limit of 2 is "full", not "150% full".
        self.assertIn(f" on {instance} has been full for more than 2 minutes:",
                      near["annotations"]["description"])
        # README's inhibition: while Dropping fires, NearFull is suppressed by it.
        self.assertIn(DROPPING, found[ns.inode], f"{DROPPING} resolved before {NEAR_FULL} "
                      f"fired: the rules' windows no longer overlap")
        self.assertEqual(near["status"]["state"], "suppressed", near)
        self.assertEqual(near["status"]["inhibitedBy"],
                         [found[ns.inode][DROPPING]["fingerprint"]])
        self.assertNotIn(("firing", NEAR_FULL), webhook.alerts(ns.inode),
                         "an inhibited alert was notified")

        # Near full before any drop: fired and notified, while that listener
        # and its namespace have never dropped anything.
        nf_alert = found[nf_ns.inode][NEAR_FULL]
        self.check_alert(nf_alert, rules[NEAR_FULL], instance,
                         {**nf_labels, **nf_owner, "alertname": NEAR_FULL})
        self.assertEqual(nf_alert["annotations"]["description"],
                         f"The accept queue of unit {unit}, process nearfull, listener "
                         f"127.0.0.1:{nf_port} in network namespace {nf_ns.inode} on "
                         f"{instance} has been 95% full for more than 2 minutes: the "
                         f"application does not accept() connections as fast as they arrive, "
                         f"and new connections will be dropped once it is full.")
        self.assertEqual(nf_alert["status"]["state"], "active")
        self.wait_webhook(webhook, nf_ns.inode, ("firing", NEAR_FULL), time.monotonic() + SLACK)
        # No Kubernetes namespace: the default receiver.
        self.assertEqual({receiver for receiver, _ in webhook.notified(nf_ns.inode)},
                         {"webhook"})
        self.check_never_dropped(prom, exporter, nf_ns, nf_labels)

        # The dashboards, against this Prometheus, for the dashboard namespace.
        self.check_dashboards(prom, instance, dash_ns)

        # 3. Drain: NearFull resolves at once, Dropping once its window has no drop.
        reply = command(workload, "drain")
        nf_reply = command(nf_workload, "drain")
        t_drain = time.monotonic()
        self.assertEqual(reply["accepted"], 3)
        self.assertEqual(nf_reply["accepted"], 95)
        samples = exporter.scrape()
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **labels), 0)
        self.assertEqual(one(samples, "tcpq_listener_accept_queue_length", **nf_labels), 0)
        self.progress("listeners drained")
        wait_until(f"{NEAR_FULL} to resolve", t_drain + SLACK,
                   lambda f: all(NEAR_FULL not in f[n] for n in seen))
        self.progress(f"{NEAR_FULL} resolved {time.monotonic() - t_drain:.1f}s after the drain")
        self.wait_webhook(webhook, nf_ns.inode, ("resolved", NEAR_FULL),
                          time.monotonic() + SLACK)
        # The queues are empty at once; the walk's last wait may still be
        # high, but the rule wants a non-empty queue.
        wait_until(f"{NOT_DRAINED} to resolve", t_drain + SLACK,
                   lambda f: all(NOT_DRAINED not in f[n] for n in seen))
        self.progress(f"{NOT_DRAINED} resolved {time.monotonic() - t_drain:.1f}s after the drain")
        for netns in seen:
            self.wait_webhook(webhook, netns, ("resolved", NOT_DRAINED), time.monotonic() + SLACK)
        found = wait_until(f"{DROPPING} to resolve", t_stop + window + SLACK,
                           lambda f: DROPPING not in f[ns.inode])
        resolved = time.monotonic() - t_stop
        self.progress(f"{DROPPING} resolved {resolved:.1f}s after the last drop")
        self.assertGreaterEqual(resolved, window - 5, "resolved before its window ran out")
        self.wait_webhook(webhook, ns.inode, ("resolved", DROPPING), time.monotonic() + SLACK)
        prom_alerts = [a["labels"]["alertname"] for a in prom.get("/api/v1/alerts")["data"]
                       ["alerts"] if a["labels"].get("netns") == ns.inode]
        self.assertNotIn(DROPPING, prom_alerts)
        self.assertNotIn(NEAR_FULL, prom_alerts)
        self.assertNotIn(NOT_DRAINED, prom_alerts)
        # Nothing else fired for these namespaces (namespace overflows, SYN
        # flood, retransmits, ...), not even in Prometheus alone.
        self.assertLessEqual(seen[ns.inode], EXPECTED)
        self.assertEqual(seen[nf_ns.inode], {NEAR_FULL, NOT_DRAINED})
        for netns, allowed in ((ns.inode, EXPECTED), (nf_ns.inode, {NEAR_FULL, NOT_DRAINED})):
            in_prom = {r["metric"]["alertname"] for r in prom.get(
                "/api/v1/query", query=f'max_over_time(ALERTS{{netns="{netns}", '
                f'alertstate="firing"}}[1h])')["data"]["result"]}
            self.assertLessEqual(in_prom, allowed, f"fired in prometheus for {netns}")
        self.assertNotIn(NS_OVERFLOWS, seen[ns.inode])
        self.progress(f"done; notifications for {ns.inode}: {webhook.alerts(ns.inode)}; "
                      f"for {nf_ns.inode}: {webhook.alerts(nf_ns.inode)}")

    def check_never_dropped(self, prom, exporter, netns, labels):
        """The near-full listener's drops and its namespace's overflow and
        drop counters are 0, in the kernel now and in Prometheus all along."""
        samples = exporter.scrape()
        self.assertEqual(one(samples, "tcpq_listener_drops_total", **labels), 0)
        for field, metric in (("ListenOverflows", "tcpq_netstat_listen_overflows_total"),
                              ("ListenDrops", "tcpq_netstat_listen_drops_total")):
            self.assertEqual(netns.netstat(field), 0, field)
            self.assertEqual(one(samples, metric, netns=netns.inode), 0, metric)
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for query in (f"max_over_time(tcpq_listener_drops_total{{{selector}}}[1h])",
                      f'max_over_time(tcpq_netstat_listen_overflows_total{{netns="{netns.inode}"}}[1h])',
                      f'max_over_time(tcpq_netstat_listen_drops_total{{netns="{netns.inode}"}}[1h])',
                      f"max_over_time(tcpq_listener_accept_queue_length{{{selector}}}[1h])"):
            result = prom.get("/api/v1/query", query=query)["data"]["result"]
            self.assertEqual([r["value"][1] for r in result],
                             ["95" if "queue_length" in query else "0"], query)
        self.progress(f"near-full listener {labels['addr']}:{labels['port']}: queue at most "
                      f"95/100 in every scrape, 0 listener drops, 0 ListenOverflows, "
                      f"0 ListenDrops")

    def check_dashboards(self, prom, instance, netns):
        """Every dashboard query, variables filled in as a user picking this
        instance and namespace would, returns data; every rate is non-zero."""
        expected = dashboard_query_count()
        result = subprocess.run(
            [sys.executable, DASHBOARD_QUERIES, "--url", prom.url, "--job", JOB,
             "--instance", instance, "--netns", netns.inode, "--rate-interval", "1m",
             "--require-activity", "--verbose"],
            capture_output=True, text=True, timeout=120)
        print(result.stdout, end="", flush=True)
        self.assertEqual(result.returncode, 0, f"dashboard queries failed:\n{result.stdout}"
                         f"{result.stderr}")
        self.assertEqual(result.stdout.splitlines()[-1],
                         f"dashboard_queries: {expected} queries, all returned data "
                         f"(every rate query non-zero)")
        self.progress(f"dashboards: all {expected} queries returned data for netns "
                      f"{netns.inode}, every rate non-zero")

    def check_prometheus(self, prom, am_port, instance):
        """The rules file loaded whole and evaluating, the exporter target up,
        Alertmanager discovered: {alertname: rule as /api/v1/rules gives it}."""
        with open(RULES) as f:
            text = f.read()
        in_file = set(re.findall(r"^\s*-\s*alert:\s*(\w+)\s*$", text, re.M))
        # Recording rules the alerts use (the socket walk's freshness): one
        # failing would silence those alerts without a word.
        records_in_file = set(re.findall(r"^\s*-\s*record:\s*(\S+)\s*$", text, re.M))
        self.assertLessEqual(EXPECTED | {NS_OVERFLOWS}, in_file, f"{RULES} lost an alert")
        deadline = time.monotonic() + 30
        while True:
            groups = prom.get("/api/v1/rules")["data"]["groups"]
            rules = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
            records = {r["name"]: r for g in groups for r in g["rules"]
                       if r["type"] == "recording"}
            targets = [t for t in prom.get("/api/v1/targets")["data"]["activeTargets"]
                       if t["labels"].get("job") == JOB]
            ams = prom.get("/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
            evaluated = rules and all(r["health"] != "unknown"
                                      for r in [*rules.values(), *records.values()])
            up = [t for t in targets if t["health"] == "up"]
            if evaluated and up and ams:
                break
            if time.monotonic() > deadline:
                self.fail(f"prometheus not set up: rules {set(rules)} evaluated={evaluated}, "
                          f"targets {targets}, alertmanagers {ams}")
            time.sleep(0.5)
        self.assertEqual(set(rules), in_file, "prometheus did not load every rule of the file")
        self.assertEqual(set(records), records_in_file)
        for g in groups:
            self.assertEqual(g["file"], RULES)
            self.assertEqual(g["interval"], 1)
        bad = {n: r["lastError"] for n, r in [*rules.items(), *records.items()]
               if r["health"] != "ok"}
        self.assertEqual(bad, {}, "rules failing to evaluate")
        self.assertEqual([t["labels"]["instance"] for t in targets], [instance])
        self.assertEqual([a["url"] for a in ams],
                         [f"http://127.0.0.1:{am_port}/api/v2/alerts"])
        self.progress(f"prometheus: {len(rules)} rules from {os.path.relpath(RULES, HERE)} "
                      f"evaluating, target {instance} up, alertmanager :{am_port} active")
        return rules

    def check_alert(self, alert, rule, instance, want_labels):
        """Labels and annotations as the rule in the real file defines them."""
        got = alert["labels"]
        want = {**want_labels, **rule["labels"], "instance": instance, "job": JOB}
        self.assertEqual(got, want)
        self.assertIn(got["severity"], ("warning", "critical"))
        notes = alert["annotations"]
        self.assertEqual(set(notes), {"summary", "description", "runbook_url"})
        self.assertEqual(notes["summary"], rule["annotations"]["summary"])
        self.assertTrue(notes["runbook_url"].endswith("#" + got["alertname"].lower()),
                        notes["runbook_url"])
        description = notes["description"]
        self.assertNotIn("{{", description)
        self.assertRegex(description, rf"(?i)network namespace {got['netns']} ")
        self.assertIn(f"on {instance}", description)
        if "port" in want_labels:
            self.assertIn(f"{got['addr']}:{got['port']} ", description)
        if "pod" in want_labels:  # names the workload as the on-call asks for it
            self.assertIn(f"pod {got['namespace']}/{got['pod']}, process {got['process']}, "
                          f"listener {got['addr']}:{got['port']} (container "
                          f"{got['container']}) ", description)
        self.progress(f"{got['alertname']} {got['severity']}: {description}")

    def wait_webhook(self, webhook, netns, entry, deadline):
        while entry not in webhook.alerts(netns):
            if time.monotonic() > deadline:
                self.fail(f"webhook never got {entry}: {webhook.alerts(netns)}")
            time.sleep(0.5)
        self.progress(f"webhook notified {entry[1]} {entry[0]}")


if __name__ == "__main__":
    main()
