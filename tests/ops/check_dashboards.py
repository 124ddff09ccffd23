#!/usr/bin/env python3
"""Structure checks for the Grafana dashboards in dashboards/ (standard library only).

Checks, for every dashboards/*.json:
- a Grafana JSON model with schemaVersion 36..39, a unique uid and title;
- templating: a `datasource` variable (type datasource, query prometheus) and
  `job`, `instance`, `namespace`, `pod`, `netns` query variables using
  label_values(...) through that datasource; `namespace` and `pod` (the
  Kubernetes names, from tcpq_netns_info) with an `All` whose value `.*` keeps
  the series that have no pod (the host's namespaces), `pod` offered per
  namespace and `netns` per pod; every $variable a query uses is defined;
- every panel (rows excepted: they hold no query) uses the `datasource`
  variable, as does each of its targets, has a description, a unit
  (fieldConfig.defaults.unit) and at least one query; panel ids are unique;
  a panel over a `_seconds` gauge (an age, a duration, a timestamp drawn as
  its age) has unit `s`;
- every query: each range selector is [$__rate_interval] (so every rate,
  irate and increase uses it), each tcpq_ selector filters job="$job" and
  instance=~"$instance", and also netns=~"$netns" for metrics that carry a
  netns label; every metric name is in SPEC.md's metric list;
- histograms are drawn as heatmap panels (format heatmap, `sum by (le)`,
  legend {{le}}, calculate off, a y axis unit) or through histogram_quantile;
- workloads, not inode numbers: every query over a metric with a netns label
  is filtered by the namespace and pod variables (an info metric's selector
  with namespace=~"$namespace" and pod=~"$pod"); no legend shows {{netns}};
  a legend's {{workload}} is built from an info metric by label_join and
  label_replace, and every such construction over the same info metric and
  grouping is the same text in every dashboard (one naming rule);
- the panels the issue asks for exist (REQUIRED below).

SPEC.md's metric list is parsed from the spec itself: every tcpq_ name it
writes out, brace lists (tcpq_snmp_{a,b}_total), `..._suffix` abbreviations,
and the netstat counters it names in CamelCase, converted with the spec's rule
(strip a leading TCP, CamelCase to snake_case, as procfs/metric_name.cc does).

Usage: check_dashboards.py [--spec PATH] [DASHBOARD.json ...]
"""

import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DEFAULT_SPEC_CANDIDATES = [ROOT / "SPEC.md", ROOT.parent / "shared" / "SPEC.md",
                           ROOT / "shared" / "SPEC.md", ROOT / "docs" / "SPEC.md"]
DS_REFS = ("${datasource}", "$datasource")

# Metrics without a netns label (spec: histograms carry none by default; the
# exporter's own health metrics are node-wide).
NO_NETNS = re.compile(r"^tcpq_(exporter_build_info|collector_\w+|bpf_\w+|netns_scanned"
                      r"|socket_walk_\w+|state_duration_seconds\w*|connect_duration_seconds\w*)$")

# What each dashboard must show: (description, predicate over the dashboard).
def uses(metric, panel_type=None, fmt=None, contains=None):
    def pred(panels):
        for p in panels:
            if panel_type and p.get("type") != panel_type:
                continue
            for t in p.get("targets", []):
                expr = t.get("expr", "")
                if re.search(rf"\b{metric}\b", expr) and (fmt is None or t.get("format") == fmt) \
                        and (contains is None or contains in expr):
                    return True
        return False
    return pred


REQUIRED = {
    "tcpq-overview.json": [
        ("accept queue overflows", uses("tcpq_netstat_listen_overflows_total")),
        ("listen drops", uses("tcpq_netstat_listen_drops_total")),
        ("SYN cookies", uses("tcpq_netstat_syncookies_sent_total")),
        ("retransmit rate", uses("tcpq_snmp_retrans_segs_total")),
        ("retransmits by state", uses("tcpq_retransmits_total")),
        ("connect attempts", uses("tcpq_connect_attempts_total")),
        ("connect failures", uses("tcpq_connect_failures_total")),
        ("sockets per state", uses("tcpq_sockets")),
        ("oldest socket per state", uses("tcpq_sockets_oldest_seconds")),
        ("socket walk duration", uses("tcpq_socket_walk_duration_seconds")),
        ("age of the last socket walk", uses("tcpq_socket_walk_timestamp_seconds", contains="time() -")),
        ("state-duration heatmap", uses("tcpq_state_duration_seconds_bucket", "heatmap", "heatmap")),
        ("connect-latency heatmap", uses("tcpq_connect_duration_seconds_bucket", "heatmap", "heatmap")),
    ],
    "tcpq-listeners.json": [
        ("accept queue fill ratio", uses("tcpq_listener_accept_queue_length", contains="tcpq_listener_accept_queue_limit")),
        ("listener drops", uses("tcpq_listener_drops_total")),
        ("SYN-ACK retransmits", uses("tcpq_listener_synack_retransmits_total")),
        ("oldest accept-queue wait", uses("tcpq_listener_accept_queue_oldest_seconds")),
        ("top peers per listener", uses("tcpq_listener_top_peer_connections")),
        ("table of the fullest listeners (topk)", uses("tcpq_listener_accept_queue_length", "table", contains="topk(")),
        ("the listeners table's owner: process, container, pod",
         uses("tcpq_listener_info", "table", contains="group_left(namespace, pod, container, process, unit)")),
    ],
}
WORKLOAD_VARS = ("namespace", "pod")
INFO = ("tcpq_netns_info", "tcpq_listener_info")
FILTER = ('namespace=~"$namespace"', 'pod=~"$pod"')


# ------------------------------------------------------------------ SPEC.md
def mib_to_snake(field: str) -> str:
    """Port of procfs/metric_name.cc MibFieldToSnakeCase."""
    if len(field) > 3 and field.startswith("TCP"):
        field = field[3:]
    out = []
    for i, c in enumerate(field):
        if not c.isalnum():
            out.append("_")
            continue
        if c.isupper() and i > 0:
            prev = field[i - 1]
            plural_s = (i + 1 < len(field) and field[i + 1] == "s"
                        and (i + 2 == len(field) or field[i + 2].isupper()))
            next_lower = i + 1 < len(field) and not plural_s and field[i + 1].islower()
            if prev.islower() or prev.isdigit() or (prev.isupper() and next_lower):
                out.append("_")
        out.append(c.lower())
    return "".join(out)


def spec_metrics(text: str) -> set:
    names = set()
    # Brace lists (tcpq_snmp_{a,b,c}_total): expand them in the text first. A
    # brace after a complete name is a label list (tcpq_sockets{netns,state}).
    def expand(m):
        return " ".join(m.group(1) + part + m.group(3) for part in m.group(2).split(","))
    text = re.sub(r"\b(tcpq_[a-z0-9_]*_)\{([a-z0-9_,]+)\}([a-z0-9_]*)", expand, text)
    # Written-out names; `tcpq_netstat_<name>_total` is a pattern, not a name,
    # and tcpq_exporter is the binary.
    for m in re.finditer(r"\btcpq_[a-z0-9_]+", text):
        name = m.group(0)
        if name.endswith("_") or text[m.end():m.end() + 1] == "<" or name == "tcpq_exporter":
            continue
        names.add(name)
    # `..._tcp_syncookies`: the prefix of the nearest name before it that
    # shares the suffix's first word (tcpq_sysctl_net_ipv4_tcp_max_syn_backlog).
    for m in re.finditer(r"\.\.\.(_[a-z0-9_]+)", text):
        suffix = m.group(1)
        first = "_" + suffix.strip("_").split("_")[0] + "_"
        for prev in reversed(re.findall(r"\btcpq_[a-z0-9_]+", text[:m.start()])):
            if first in prev:
                names.add(prev[:prev.index(first)] + suffix)
                break
    # Netstat counters named in CamelCase: `tcpq_netstat_<name>_total`.
    m = re.search(r"tcpq_netstat_<name>_total`.*?at least (.*?)\s+—", text, re.S)
    if m:
        for item in re.split(r",\s*", m.group(1).replace("\n", " ")):
            item = item.strip()
            if not re.fullmatch(r"[A-Za-z0-9/]+", item):
                continue
            first, *alts = item.split("/")
            names.add(f"tcpq_netstat_{mib_to_snake(first)}_total")
            # SyncookiesSent/Recv/Failed: replace the last CamelCase word.
            stem = re.sub(r"[A-Z][a-z0-9]*$", "", first)
            for alt in alts:
                names.add(f"tcpq_netstat_{mib_to_snake(stem + alt)}_total")
    # Histograms (table rows typed `histogram`): their series are _bucket,
    # _sum and _count.
    for line in text.splitlines():
        if re.search(r"\|\s*histogram\s*\|", line):
            for n in re.findall(r"\btcpq_[a-z0-9_]*[a-z0-9]", line):
                names.update({n + "_bucket", n + "_sum", n + "_count"})
    # Drop the placeholders and stems the spec uses in prose.
    return {n for n in names if "<" not in n and not n.endswith("_") and n != "tcpq"}


# --------------------------------------------------------------- dashboards
def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def var_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or ""


def ds_ok(ds):
    if isinstance(ds, dict):
        return ds.get("uid") in DS_REFS and ds.get("type", "prometheus") == "prometheus"
    return ds in DS_REFS


def selectors(expr):
    """(metric, matcher text or None) for every tcpq_ selector in expr."""
    for m in re.finditer(r"\b(tcpq_[a-z0-9_]+)\s*(\{[^}]*\})?", expr):
        yield m.group(1), m.group(2)


def without_strings(expr):
    """expr with its string literals emptied (label_replace regexes hold [...])."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def call_end(expr, start):
    """Index just past the call whose name starts at `start` (balanced parentheses,
    strings skipped)."""
    depth, i = 0, expr.index("(", start)
    while i < len(expr):
        c = expr[i]
        if c == '"':
            i = expr.index('"', i + 1)
            while expr[i - 1] == "\\":
                i = expr.index('"', i + 1)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced parentheses")


def workload_namings(expr):
    """Every construction of the `workload` label in expr: the label_replace
    chain around a label_join into "workload", as text."""
    for m in re.finditer(r'label_join\(', expr):
        start = m.start()
        while True:
            before = re.search(r'label_replace\(\s*$', expr[:start])
            if before is None:
                break
            start = before.start()
        text = expr[start:call_end(expr, start)]
        if '"workload"' in text:
            yield " ".join(text.split())


def check_dashboard(path, spec_names, seen_uids, seen_namings, fail):
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        fail(f"{rel}: not valid JSON: {e}")
        return
    where = f"{rel}"
    sv = d.get("schemaVersion")
    if not isinstance(sv, int) or not 36 <= sv <= 39:
        fail(f"{where}: schemaVersion {sv!r}, want 36..39 (~38, Grafana 10)")
    for key in ("uid", "title"):
        if not d.get(key):
            fail(f"{where}: no {key}")
    if d.get("uid") in seen_uids:
        fail(f"{where}: uid {d.get('uid')} used by another dashboard")
    seen_uids.add(d.get("uid"))

    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    dsv = variables.get("datasource")
    if not dsv or dsv.get("type") != "datasource" or var_query(dsv) != "prometheus":
        fail(f"{where}: needs a `datasource` variable of type datasource with query prometheus")
    for name in ("job", "instance", *WORKLOAD_VARS, "netns"):
        v = variables.get(name)
        if not v or v.get("type") != "query":
            fail(f"{where}: needs a `{name}` query variable")
            continue
        if not var_query(v).startswith("label_values("):
            fail(f"{where}: variable {name}: query must be label_values(...), is {var_query(v)!r}")
    for name, filters in (("namespace", ()), ("pod", FILTER[:1]), ("netns", FILTER)):
        v = variables.get(name)
        if not v:
            continue
        q = var_query(v).replace(" ", "")
        if "tcpq_netns_info" not in q:
            fail(f"{where}: variable {name}: values must come from tcpq_netns_info")
        for f in filters:
            if f not in q:
                fail(f"{where}: variable {name}: query must filter {f} (offered per choice above)")
        if name in WORKLOAD_VARS and not (v.get("includeAll") and v.get("multi")
                                          and v.get("allValue") == ".*"):
            fail(f"{where}: variable {name}: needs multi, includeAll and allValue \".*\" "
                 f"(All must keep the series without {name}: the host's namespaces)")
    defined = set(variables) | {"__rate_interval", "__interval", "__range", "__interval_ms",
                                "__range_s", "__range_ms", "__name", "__auto"}
    for name, v in variables.items():
        if v.get("type") == "query":
            if not ds_ok(v.get("datasource")):
                fail(f"{where}: variable {name} does not query through the datasource variable")
            for m in re.finditer(r"\b(tcpq_[a-z0-9_]+)", var_query(v)):
                if m.group(1) not in spec_names:
                    fail(f"{where}: variable {name}: metric {m.group(1)} is not in SPEC.md")

    ids = set()
    for p in all_panels(d.get("panels", [])):
        pw = f"{where}: panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            fail(f"{pw}: duplicate panel id")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            if p.get("targets"):
                fail(f"{pw}: a row must not hold queries")
            continue
        if not ds_ok(p.get("datasource")):
            fail(f"{pw}: datasource must be the `datasource` variable, is {p.get('datasource')!r}")
        if not str(p.get("description", "")).strip():
            fail(f"{pw}: no description")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if not unit:
            fail(f"{pw}: no unit (fieldConfig.defaults.unit)")
        targets = p.get("targets", [])
        seconds = sorted({m for t in targets for m, _ in selectors(t.get("expr", ""))
                          if m.endswith("_seconds")})
        if seconds and p.get("type") != "heatmap" and unit != "s":
            fail(f"{pw}: {seconds[0]} is a time in seconds (an age, a duration; a timestamp "
                 f"drawn as time() - it): unit must be s, is {unit!r}")
        if not targets:
            fail(f"{pw}: no query")
        for t in targets:
            tw = f"{pw} target {t.get('refId')}"
            expr = t.get("expr", "")
            if not expr.strip():
                fail(f"{tw}: empty expr")
                continue
            if not ds_ok(t.get("datasource")):
                fail(f"{tw}: datasource must be the `datasource` variable")
            for r in re.findall(r"\[([^\]]*)\]", without_strings(expr)):
                if r != "$__rate_interval":
                    fail(f"{tw}: range [{r}] must be [$__rate_interval]")
            if re.search(r"\b(rate|irate|increase)\s*\(", expr) and "[$__rate_interval]" not in expr:
                fail(f"{tw}: rate/increase without [$__rate_interval]")
            for var in re.findall(r"\$\{?(\w+)", expr):
                # $1 is a label_replace capture group, which Grafana leaves be.
                if var not in defined and not var.isdigit():
                    fail(f"{tw}: uses undefined variable ${var}")
            for metric, matchers in selectors(expr):
                if metric not in spec_names:
                    fail(f"{tw}: metric {metric} is not in SPEC.md's metric list")
                compact = (matchers or "").replace(" ", "")
                for want in ('job="$job"', 'instance=~"$instance"'):
                    if want not in compact:
                        fail(f"{tw}: {metric} does not filter {want}")
                if not NO_NETNS.match(metric) and 'netns=~"$netns"' not in compact:
                    fail(f"{tw}: {metric} does not filter netns=~\"$netns\"")
                if metric.endswith("_bucket") and p.get("type") != "heatmap" and "histogram_quantile" not in expr:
                    fail(f"{tw}: histogram {metric} outside a heatmap must go through histogram_quantile")
            per_netns = [m for m, _ in selectors(expr) if not NO_NETNS.match(m) and m not in INFO]
            filtered = any(m in INFO and all(f in (sel or "").replace(" ", "") for f in FILTER)
                           for m, sel in selectors(expr))
            if per_netns and not filtered:
                fail(f"{tw}: {per_netns[0]} is not filtered by the namespace and pod variables "
                     f"(an info metric's selector with {', '.join(FILTER)})")
            legend = t.get("legendFormat") or ""
            if re.search(r"\{\{\s*netns\s*\}\}", legend):
                fail(f"{tw}: legend shows {{{{netns}}}} (an inode number): use {{{{workload}}}}")
            namings = list(workload_namings(expr))
            if "workload" in legend and not namings:
                fail(f"{tw}: legend shows {{{{workload}}}} but the query does not build it "
                     f"(label_join ... \"workload\" over an info metric)")
            for naming in namings:
                # One rule per info metric, whatever the grouping (a listener,
                # a port) and wherever the namespace/pod filter sits.
                key = next((m for m in INFO if m in naming), naming)
                naming = re.sub(r"topk by \([^)]*\)", "topk by (...)", naming)
                seen_namings.setdefault(key, {}).setdefault(
                    naming.replace(", " + ", ".join(FILTER), ""), tw)
        if p.get("type") == "heatmap":
            opts = p.get("options", {})
            if opts.get("calculate") is not False:
                fail(f"{pw}: heatmap must use the histogram's buckets (options.calculate: false)")
            if not opts.get("yAxis", {}).get("unit"):
                fail(f"{pw}: heatmap needs a y axis unit (options.yAxis.unit)")
            for t in targets:
                if t.get("format") != "heatmap" or "_bucket" not in t.get("expr", "") \
                        or not re.search(r"by\s*\(\s*le\s*\)", t.get("expr", "")) \
                        or t.get("legendFormat") != "{{le}}":
                    fail(f"{pw} target {t.get('refId')}: heatmap target needs format heatmap, "
                         "a `sum by (le)` of a _bucket rate and legendFormat {{le}}")

    for what, pred in REQUIRED.get(path.name, []):
        if not pred(list(all_panels(d.get("panels", [])))):
            fail(f"{where}: no panel shows {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=pathlib.Path, help="SPEC.md (default: found next to the repo)")
    ap.add_argument("--list-spec-metrics", action="store_true", help="print the parsed metric list and exit")
    ap.add_argument("dashboards", nargs="*", type=pathlib.Path)
    args = ap.parse_args()

    spec = args.spec or next((p for p in DEFAULT_SPEC_CANDIDATES if p.exists()), None)
    if spec is None or not spec.exists():
        print("check_dashboards: SPEC.md not found (tried "
              + ", ".join(str(p) for p in DEFAULT_SPEC_CANDIDATES) + "); pass --spec")
        return 77
    spec_names = spec_metrics(spec.read_text(encoding="utf-8"))
    if args.list_spec_metrics:
        print("\n".join(sorted(spec_names)))
        return 0
    if len(spec_names) < 30:
        print(f"check_dashboards: only {len(spec_names)} metric names parsed from {spec}: parser broken?")
        return 1

    files = args.dashboards or sorted((ROOT / "dashboards").glob("*.json"))
    failures = []
    if not files:
        failures.append("no dashboards/*.json")
    seen, namings = set(), {}
    for f in files:
        check_dashboard(f.resolve(), spec_names, seen, namings, failures.append)
    for key, variants in namings.items():
        if len(variants) > 1:
            failures.append(f"`workload` is built {len(variants)} ways from {key}: "
                            + "; ".join(f"{where}: {text}" for text, where in variants.items()))
    for name in REQUIRED:
        if not any(f.name == name for f in files):
            failures.append(f"dashboards/{name} is missing")
    for f in failures:
        print(f"FAIL {f}")
    print(f"check_dashboards: {len(files)} dashboard(s), {len(spec_names)} metric names from "
          f"{spec}, {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
