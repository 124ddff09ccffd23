#!/usr/bin/env python3
"""Run every query of the Grafana dashboards against a real Prometheus.

For each dashboards/*.json: every panel target and every `label_values(...)`
template variable, with the dashboard variables filled in, is sent to the
Prometheus HTTP API (/api/v1/query, /api/v1/series); a query that errors,
returns no series, or returns only NaN (a panel that would draw nothing) is
reported. With --require-activity a query over rate()/irate()/increase() that
returns only zeros is reported too: the series exist but nothing happened in
the window, so the panel proves nothing about the events it counts. Every
label a target's legend names ({{workload}}, {{instance}}, ...) must be set
on every series it returns: a legend never shows an empty name. A variable
given a value (--job, --instance, --netns, --var) must also offer that value:
some label value it returns matches it in full. Standard library only.

  dashboard_queries.py --url http://127.0.0.1:9090 --job tcpq \\
      [--instance REGEX] [--netns REGEX] [--var port=8080] [--time UNIX] \\
      [--require-activity] [-v]

Variable values go into the queries as written: the dashboards use
`instance=~"$instance"` and `netns=~"$netns"`, so those take regexes; `job`
is matched exactly. A variable not given is "All": its `allValue` as Grafana
sends it (`.*` for namespace and pod, so that series without them stay),
else `.+`. Grafana's built-ins become
$__rate_interval -> --rate-interval (default 1m, four 15 s scrapes),
$__interval -> 15s, $__range -> 1h.

Exit status: 0 every query returned data, 1 some did not (listed), 2 usage
error or Prometheus unreachable.
"""

import argparse
import json
import pathlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name.isdigit():
            return m.group(0)  # label_replace's $1: no variable, Grafana leaves it
        if name not in values:
            raise KeyError(name)
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


class Prometheus:
    def __init__(self, url, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path, params):
        url = f"{self.url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as e:  # 400/422: bad query, with a JSON error body
            try:
                body = json.load(e)
            except ValueError:
                return None, f"HTTP {e.code}"
        if body.get("status") != "success":
            return None, f"{body.get('errorType', 'error')}: {body.get('error', body)}"
        return body.get("data"), None


def result_problem(data, require_activity=False):
    """None if the query result has data, else why not."""
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "scalar" or rtype == "string":
        return None if result and result[1] not in ("NaN",) else "NaN scalar"
    if not result:
        return "returned nothing"
    values = []
    for series in result:
        if "value" in series:
            values.append(series["value"][1])
        values.extend(v[1] for v in series.get("values", []))
        values.extend(h for h in series.get("histograms", []))
    if values and all(isinstance(v, str) and v.lower() == "nan" for v in values):
        return f"{len(result)} series, all NaN"
    if require_activity and not any(isinstance(v, dict) or _nonzero(v) for v in values):
        return f"{len(result)} series, all zero or NaN (no activity in the rate window)"
    return None


def legend_problem(data, legend):
    """None if every series carries every label its legend names."""
    for series in data.get("result") or []:
        metric = series.get("metric", {}) if isinstance(series, dict) else {}
        missing = [label for label in legend if not metric.get(label)]
        if missing:
            return f"a series lacks the legend's {missing}: {metric}"
    return None


def _nonzero(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return False
    return x == x and x != 0


def series_count(data):
    result = data.get("result") if isinstance(data, dict) else data
    return len(result) if isinstance(result, list) else 1


RATE = re.compile(r"\b(rate|irate|increase)\s*\(")


def label_values_query(q):
    """label_values(selector, label) or label_values(label) -> (selector, label)."""
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*", q, re.S)
    return (m.group(1), m.group(2)) if m else (None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--url", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--job", required=True, help="value of $job (exact job name)")
    ap.add_argument("--instance", default=".+", help="value of $instance (regex, default .+)")
    ap.add_argument("--netns", default=".+", help="value of $netns (regex, default .+)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="another dashboard variable (repeatable); variables not given are \"All\": their allValue, else .+")
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval (default 1m)")
    ap.add_argument("--time", help="evaluation time (RFC 3339 or Unix seconds; default: Prometheus' now)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--require-activity", action="store_true",
                    help="fail rate()/irate()/increase() queries that return only zeros")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the queries that passed")
    ap.add_argument("dashboards", nargs="*", type=pathlib.Path,
                    help="dashboard JSON files (default: dashboards/*.json)")
    args = ap.parse_args()

    given = {"job": args.job}  # variables with a chosen value (not "All")
    if args.instance != ".+":
        given["instance"] = args.instance
    if args.netns != ".+":
        given["netns"] = args.netns
    values = {"job": args.job, "instance": args.instance, "netns": args.netns,
              "__rate_interval": args.rate_interval, "__interval": "15s", "__range": "1h",
              "__range_s": "3600", "__interval_ms": "15000"}
    for kv in args.var:
        name, sep, value = kv.partition("=")
        if not sep:
            ap.error(f"--var {kv!r}: want NAME=VALUE")
        values[name] = value
        given[name] = value

    prom = Prometheus(args.url, args.timeout)
    data, err = prom.get("/api/v1/query", {"query": "vector(1)"})
    if err is not None or data is None:
        print(f"dashboard_queries: Prometheus at {args.url} is not answering: {err}")
        return 2
    when = {"time": args.time} if args.time else {}

    files = args.dashboards or sorted((ROOT / "dashboards").glob("*.json"))
    checked, failed = 0, []
    for path in files:
        dash = json.loads(path.read_text(encoding="utf-8"))
        dvalues = dict(values)
        for v in dash.get("templating", {}).get("list", []):
            if v.get("name") not in given:
                dvalues[v.get("name")] = v.get("allValue") or ".+"

        queries = []  # (where, kind, query, labels its legend names)
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v.get("query")
                q = q.get("query", "") if isinstance(q, dict) else (q or "")
                queries.append((f"{path.name}: variable ${v.get('name')}", "variable", q, []))

        def walk(panels):
            for p in panels:
                for t in p.get("targets", []):
                    if t.get("expr"):
                        legend = re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat") or "")
                        queries.append((f"{path.name}: panel {p.get('title')!r} {t.get('refId')}",
                                        "expr", t["expr"], legend))
                walk(p.get("panels", []))
        walk(dash.get("panels", []))

        for where, kind, q, legend in queries:
            checked += 1
            try:
                expr = substitute(q, dvalues)
            except KeyError as e:
                failed.append(f"{where}: undefined variable ${e.args[0]}")
                continue
            if kind == "variable":
                selector, label = label_values_query(expr)
                if label is None:
                    failed.append(f"{where}: not a label_values() query: {expr}")
                    continue
                data, err = prom.get("/api/v1/series", {"match[]": selector or f'{{{label}!=""}}', **when})
                offered = sorted({s[label] for s in (data or []) if label in s})
                problem = err or (None if offered else f"no series with label {label}")
                name = where.rsplit("$", 1)[1]
                if problem is None and name in given and \
                        not any(re.fullmatch(given[name], o) for o in offered):
                    problem = f"offers {offered}, not the chosen {given[name]!r}"
                count = len(offered)
            else:
                data, err = prom.get("/api/v1/query", {"query": expr, **when})
                problem = err or result_problem(data, args.require_activity and RATE.search(expr)) \
                    or legend_problem(data, legend)
                count = None if err else series_count(data)
            if problem:
                failed.append(f"{where}: {problem}\n       {' '.join(expr.split())}")
            elif args.verbose:
                what = "values" if kind == "variable" else "series"
                print(f"ok   {where}: {count} {what}")

    for f in failed:
        print(f"FAIL {f}")
    if failed:
        print(f"dashboard_queries: {checked} queries, {len(failed)} failed")
    else:
        print(f"dashboard_queries: {checked} queries, all returned data"
              + (" (every rate query non-zero)" if args.require_activity else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
