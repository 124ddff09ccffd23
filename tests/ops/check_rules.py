#!/usr/bin/env python3
"""Project rules for alerts/ that promtool does not check (standard library only).

- every alert: CamelCase name starting with `Tcp`, a `for`, `severity`
  warning|critical, `summary`, `description`, and
  `runbook_url` = README.md#<name in lower case>;
- the description names the labels that identify the problem (netns, addr,
  port for listener metrics, and the peer for top peers; netns for namespace
  counters and socket states; ...), judged by the metrics of the expression
  outside an `unless` clause;
- per-listener and per-namespace alerts name the workload: their expression
  is the join of tcpq.rules.yml's header, `(X) * on(K) group_left(LABELS)
  topk by(K) (1, INFO or on(K) last_over_time(INFO[W])) or on(K) (X)`, with
  K, LABELS and INFO of REQUIRED_LABELS below, W the widest range of X, and
  the two copies of X identical; the description names every joined label;
- alerts/tcpq.rules.test.yml tests every alert both firing (non-empty
  exp_alerts) and not firing (exp_alerts: []);
- alerts/RUNBOOK.md has a heading whose GitHub anchor is each runbook_url
  anchor; so does README.md once the runbook has been pasted into it, and
  README.md's copy (from `## Alert runbook` on) is the runbook itself, each
  heading one level down.

The rules file is YAML, but Python's standard library has no YAML parser: the
checks read it line by line, which works because promtool has already
validated it and the file keeps one key per line. k8s_validate.mjs repeats the
alert checks with a real YAML parser on the generated PrometheusRule.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "alerts" / "tcpq.rules.yml"
TESTS = ROOT / "alerts" / "tcpq.rules.test.yml"
RUNBOOK = ROOT / "alerts" / "RUNBOOK.md"
README = ROOT / "README.md"
RUNBOOK_BASE = "https://github.com/tcpq/tcpq_exporter/blob/main/README.md#"

# The workload join of per-listener and per-namespace alerts: (K, LABELS, INFO).
LISTENER_JOIN = ("job, instance, netns, addr, port", "namespace, pod, container, process, unit",
                 "tcpq_listener_info")
NETNS_JOIN = ("job, instance, netns", "namespace, pod", "tcpq_netns_info")

# Labels a description must name, and the workload join the expression must
# be, by the metrics it uses: the first pattern that matches decides.
REQUIRED_LABELS = [
    (re.compile(r"\btcpq_listener_top_peer_connections\b"),
     ("netns", "addr", "port", "peer"), LISTENER_JOIN),
    (re.compile(r"\btcpq_listener_(accept_queue_\w+|drops_total|sockets|syn_queue_length"
                r"|peers|peer_connections_max)\b"),
     ("netns", "addr", "port"), LISTENER_JOIN),
    (re.compile(r"\btcpq_listener_synack_retransmits_total\b"), ("netns", "port"), None),
    (re.compile(r"\btcpq_(netstat|snmp|sysctl)_\w+|\btcpq_connect\w*|\btcpq_retransmits_total\b"
                r"|\btcpq_sockets\w*"),
     ("netns",), NETNS_JOIN),
    (re.compile(r"\btcpq_collector_\w+"), ("collector",), None),
    (re.compile(r"\btcpq_bpf_program_attached\b"), ("program",), None),
    (re.compile(r"\bup\b"), ("job", "instance"), None),
]
WORKLOAD_JOIN = re.compile(
    r"\((?P<x>.*)\) \* on\((?P<k1>[^)]*)\) group_left\((?P<labels>[^)]*)\)"
    r" topk by\((?P<k2>[^)]*)\) \(1, (?P<info1>\w+) or on\((?P<k3>[^)]*)\)"
    r" last_over_time\((?P<info2>\w+)\[(?P<w>\w+)\]\) \)"
    r" or on\((?P<k4>[^)]*)\) \((?P<y>.*)\)")


def seconds(duration: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u]
               for n, u in re.findall(r"(\d+)([smh])", duration))


def check_workload_join(where, expr, desc, join, failures):
    k, labels, info = join
    m = WORKLOAD_JOIN.fullmatch(" ".join(expr.strip().lstrip("|").split()))
    if m is None:
        failures.append(f"{where}: expression is not the workload join of the header "
                        f"((X) * on(K) group_left(...) topk by(K) (1, INFO or on(K) "
                        f"last_over_time(INFO[W])) or on(K) (X))")
        return
    for key in ("k1", "k2", "k3", "k4"):
        if m.group(key) != k:
            failures.append(f"{where}: joins on({m.group(key)}), want on({k})")
    if m.group("labels") != labels:
        failures.append(f"{where}: group_left({m.group('labels')}), want group_left({labels})")
    for key in ("info1", "info2"):
        if m.group(key) != info:
            failures.append(f"{where}: joins {m.group(key)}, want {info}")
    if m.group("x") != m.group("y"):
        failures.append(f"{where}: the fallback after `or on(...)` is not the same condition "
                        f"as the joined one:\n  {m.group('x')}\n  {m.group('y')}")
    ranges = [seconds(r) for r in re.findall(r"\[(\d+[smh])\]", m.group("x"))]
    if ranges and seconds(m.group("w")) != max(ranges):
        failures.append(f"{where}: last_over_time window [{m.group('w')}] is not the "
                        f"condition's widest range")
    for label in labels.split(", "):
        if f"$labels.{label}" not in desc:
            failures.append(f"{where}: description does not name {label} ($labels.{label})")


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def heading_anchors(path: pathlib.Path) -> set:
    anchors, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchors.add(github_anchor(m.group(1)))
    return anchors


def runbook_as_pasted(text: str) -> list:
    """RUNBOOK.md's lines as README.md holds them: headings one level down."""
    out, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        out.append("#" + line if not in_code and re.match(r"#+ ", line) else line)
    return out


def parse_alerts(text: str) -> dict:
    """Map alert name -> its block of lines (from `- alert:` to the next rule)."""
    alerts, current, indent = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^(\s*)- (alert|record): (\S+)\s*$", line)
        if m:
            current = m.group(3) if m.group(2) == "alert" else None
            indent = len(m.group(1))
            if current:
                if current in alerts:
                    alerts[current + " (duplicate)"] = []
                alerts[current] = []
            continue
        if current and line.strip() and not line.lstrip().startswith("#"):
            if len(line) - len(line.lstrip()) <= indent:
                current = None  # left the rule (next group, ...)
                continue
            alerts[current].append(line)
    return alerts


def main() -> int:
    failures = []
    alerts = parse_alerts(RULES.read_text(encoding="utf-8"))
    if not alerts:
        failures.append(f"{RULES.name}: no alerts found")

    for name, lines in alerts.items():
        block = "\n".join(lines)
        where = f"{RULES.name}: {name}"
        if not re.fullmatch(r"Tcp[A-Z][A-Za-z0-9]*", name):
            failures.append(f"{where}: name must be CamelCase starting with Tcp")
        if not re.search(r"^\s+for: \S+", block, re.M):
            failures.append(f"{where}: no `for:` (an alert must hold before it fires)")
        sev = re.search(r"^\s+severity: (\S+)", block, re.M)
        if not sev or sev.group(1) not in ("warning", "critical"):
            failures.append(f"{where}: labels.severity must be warning or critical")
        for key in ("summary", "description", "runbook_url"):
            if not re.search(rf"^\s+{key}:", block, re.M):
                failures.append(f"{where}: annotation {key} missing")
        url = re.search(r"^\s+runbook_url: (\S+)", block, re.M)
        if url and url.group(1) != RUNBOOK_BASE + name.lower():
            failures.append(f"{where}: runbook_url is {url.group(1)}, want {RUNBOOK_BASE}{name.lower()}")
        # The description: everything from `description:` to the next
        # annotation key.
        desc = re.search(r"^\s+description:(.*?)(?=^\s+\w+:|\Z)", block, re.M | re.S)
        expr = re.search(r"^\s+expr:(.*?)(?=^\s+(for|labels|annotations|keep_firing_for):)", block, re.M | re.S)
        if desc and expr:
            # The right-hand side of `unless` only removes series, it gives
            # the alert no labels: leave it out (up to a following `or`).
            labelled = re.sub(r"\bunless\b.*?(?=\bor\b|\Z)", "", expr.group(1), flags=re.S)
            for pattern, labels, join in REQUIRED_LABELS:
                if pattern.search(labelled):
                    for label in labels:
                        if f"$labels.{label}" not in desc.group(1):
                            failures.append(f"{where}: description does not name {label} ($labels.{label})")
                    if join:
                        check_workload_join(where, expr.group(1), desc.group(1), join, failures)
                    break

    tests = TESTS.read_text(encoding="utf-8")
    # (alertname, exp_alerts empty?) for each alert_rule_test case.
    cases = re.findall(r"^\s+alertname: (\S+)\s*\n\s+exp_alerts:(.*)$", tests, re.M)
    for name in alerts:
        empties = [rest.strip() == "[]" for n, rest in cases if n == name]
        if not any(empties):
            failures.append(f"{TESTS.name}: {name} is never tested NOT firing (exp_alerts: [])")
        if all(empties):
            failures.append(f"{TESTS.name}: {name} is never tested firing (non-empty exp_alerts)")
    for n, _ in cases:
        if n not in alerts:
            failures.append(f"{TESTS.name}: tests unknown alert {n}")

    runbook_anchors = heading_anchors(RUNBOOK)
    readme_anchors = heading_anchors(README) if README.exists() else set()
    pasted = any(name.lower() in readme_anchors for name in alerts)
    for name in alerts:
        if name.lower() not in runbook_anchors:
            failures.append(f"{RUNBOOK.name}: no section `## {name}` (runbook_url anchor #{name.lower()})")
        if pasted and name.lower() not in readme_anchors:
            failures.append(f"README.md: no section `{name}` (runbook_url anchor #{name.lower()})")
    if not pasted:
        print("check_rules: note: README.md has no runbook sections yet; "
              "runbook_url links will resolve once alerts/RUNBOOK.md is pasted into it")
    else:
        want = runbook_as_pasted(RUNBOOK.read_text(encoding="utf-8"))
        readme = README.read_text(encoding="utf-8").splitlines()
        start = readme.index(want[0]) if want[0] in readme else None
        got = readme[start:start + len(want)] if start is not None else []
        if got != want:
            diff = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b),
                        min(len(want), len(got)))
            failures.append(f"README.md: its copy of {RUNBOOK.name} differs from line "
                            f"{diff + 1} of the runbook: {want[diff] if diff < len(want) else ''!r}"
                            f" vs {got[diff] if diff < len(got) else '(missing)'!r}")

    for f in failures:
        print(f"FAIL {f}")
    print(f"check_rules: {len(alerts)} alerts, {len(cases)} test cases, "
          f"{len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
