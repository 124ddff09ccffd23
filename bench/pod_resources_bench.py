#!/usr/bin/env python3
"""CPU and memory of the DaemonSet's pod under load, from its cgroup: the
figures deploy/kubernetes/daemonset.yaml's requests and limits come from.

Plays the DaemonSet's pod with podman exactly as the pod test does
(tests/integration/kube_pod.py: kubectl kustomize, the controller's
template -> Pod step, podman kube play), by default with its resource limits
lifted so that what it would use is measured, and samples the container's
cgroup (memory.usage_in_bytes and its kernel part memory.kmem.usage_in_bytes,
memory.max_usage_in_bytes, memory.stat, cpuacct.usage) every 0.1 s through
these phases:

  first    the first scrape (BPF programs loaded at start, iter/tcp seeds)
  idle     --idle seconds, no scrape
  netns    NAMESPACES namespaces x LISTENERS listeners made
           (bench/netns_scale_bench.py), no scrape
  scale    SCRAPES scrapes back to back: the CPU of one scrape at that scale
  paced    the same namespaces, one scrape every --interval seconds for
           --paced seconds: the steady state a Prometheus causes
  storm    a loopback connect/accept/close storm (bench/bpf_cost_bench.py's)
           for --storm seconds, one scrape per second, namespaces still there

and prints, per phase, CPU (average and the busiest 1-second window, in
millicores) and memory (cgroup usage peak, and at that peak its RSS, page
cache and kernel memory: with cgroup v1 a memory limit counts all three),
then the peaks over the whole run (the pod's start included). --limits
keeps the manifest's limits, to check them: it also prints CFS throttling
and memory.failcnt.

Usage (root): deploy/build-image.sh IMAGE && python3 bench/pod_resources_bench.py
    --image IMAGE [--namespaces 100] [--listeners 10] [--scrapes 100]
    [--interval 15] [--paced 60] [--storm 20] [--idle 10] [--limits]
Standard library only; removes the pod, the namespaces and its processes.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import kube_pod  # noqa: E402  (tests/integration, standard library only)

import bpf_cost_bench  # noqa: E402
from netns_scale_bench import listener_namespaces, p99  # noqa: E402
from procs import stop_all  # noqa: E402

MiB = 2**20


class Sampler(threading.Thread):
    """(time, memory usage, rss, cache, CPU ns, kmem) of the container's cgroup
    every `period` seconds, until stopped."""

    def __init__(self, memory_dir, cpu_dir, period=0.1):
        super().__init__(daemon=True)
        self.memory_dir, self.cpu_dir, self.period = memory_dir, cpu_dir, period
        self.samples, self.marks = [], []
        self.done = threading.Event()

    def read(self):
        with open(f"{self.memory_dir}/memory.stat") as f:
            stat = dict(line.split() for line in f)
        with open(f"{self.memory_dir}/memory.usage_in_bytes") as f:
            usage = int(f.read())
        with open(f"{self.cpu_dir}/cpuacct.usage") as f:
            cpu = int(f.read())
        with open(f"{self.memory_dir}/memory.kmem.usage_in_bytes") as f:
            kmem = int(f.read())
        return time.monotonic(), usage, int(stat["rss"]), int(stat["cache"]), cpu, kmem

    def run(self):
        while not self.done.is_set():
            self.samples.append(self.read())
            time.sleep(self.period)

    def mark(self, phase):
        self.marks.append((phase, time.monotonic()))

    def stop(self):
        self.mark(None)
        self.done.set()
        self.join()

    def phases(self):
        """{phase: samples in it}, in order."""
        out = {}
        for (phase, start), (_, end) in zip(self.marks, self.marks[1:]):
            out[phase] = [s for s in self.samples if start <= s[0] <= end]
        return out


def cpu_millicores(samples):
    """(average, busiest 1-second window) in millicores."""
    if len(samples) < 2:
        return float("nan"), float("nan")
    average = (samples[-1][4] - samples[0][4]) / (samples[-1][0] - samples[0][0]) / 1e6
    busiest = 0.0
    j = 0
    for i in range(len(samples)):
        while samples[i][0] - samples[j][0] > 1.0:
            j += 1
        if samples[i][0] - samples[j][0] >= 0.9:
            busiest = max(busiest, (samples[i][4] - samples[j][4]) /
                          (samples[i][0] - samples[j][0]) / 1e6)
    return average, busiest


def scrape(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", required=True, help="the image to run (deploy/build-image.sh)")
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--listeners", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=100)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--paced", type=float, default=60.0)
    parser.add_argument("--storm", type=float, default=20.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--acceptors", type=int, default=4)
    parser.add_argument("--limits", action="store_true", help="keep the manifest's limits")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (podman, network namespaces)")

    with tempfile.TemporaryDirectory() as overlay:
        kube_pod.write_overlay(overlay, args.image)
        kubectl = next(iter(kube_pod.kubectls().values()))
        daemonset = kube_pod.daemonset_of(kube_pod.render(kubectl, overlay))
    pod = kube_pod.for_podman(kube_pod.pod_from_daemonset(daemonset, socket.gethostname()),
                              kube_pod.free_port(), limits=args.limits)
    (container,) = pod["spec"]["containers"]
    url = f"http://127.0.0.1:{container['readinessProbe']['httpGet']['port']}/metrics"
    print(f"machine: {os.cpu_count()} CPUs, kernel {os.uname().release}, load average "
          f"{os.getloadavg()[0]:.2f}; image {args.image}; limits "
          f"{container['resources'].get('limits', 'lifted')}")

    procs = []
    subprocess.run(["ip", "netns", "add", bpf_cost_bench.NS], check=True)
    try:
        acceptors = bpf_cost_bench.start_storm_server(args.acceptors, procs)
        with kube_pod.PlayedPod(pod) as played:
            sampler = Sampler(played.cgroup_dir("memory"), played.cgroup_dir("cpuacct"))
            sampler.mark("first")
            sampler.start()
            scrape(url)
            sampler.mark("idle")
            time.sleep(args.idle)
            sampler.mark("netns")
            with listener_namespaces(args.namespaces, args.listeners):
                sampler.mark("scale")
                times = [scrape(url) for _ in range(args.scrapes)]
                sampler.mark("paced")
                paced = []
                end = time.monotonic() + args.paced
                while time.monotonic() < end:
                    paced.append(scrape(url))
                    time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
                sampler.mark("storm")
                storm_scrapes = []
                storm = threading.Thread(target=lambda: storm_scrapes.append(
                    bpf_cost_bench.run_clients(args.clients, bpf_cost_bench.PORT, args.storm,
                                               "storm")))
                storm.start()
                while storm.is_alive():
                    scrape(url)
                    time.sleep(1)
                storm.join()
            sampler.stop()
            memory_dir = played.cgroup_dir("memory")
            with open(f"{memory_dir}/memory.max_usage_in_bytes") as f:
                max_usage = int(f.read())
            with open(f"{memory_dir}/memory.failcnt") as f:
                failcnt = int(f.read())
            with open(f"{played.cgroup_dir('cpu')}/cpu.stat") as f:
                cpu_stat = dict(line.split() for line in f)
            with open(f"/proc/{played.state()[1]}/status") as f:
                hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            logs = played.current_logs()
    finally:
        stop_all(procs, timeout=10)
        subprocess.run(["ip", "netns", "del", bpf_cost_bench.NS])
    del acceptors

    phases = sampler.phases()
    print(f"\n{'phase':>6} {'seconds':>8} {'CPU avg m':>10} {'CPU 1s max m':>13} "
          f"{'mem peak MiB':>13} {'rss MiB':>8} {'cache MiB':>10} {'kernel MiB':>11}")
    for phase, samples in phases.items():
        if not samples:
            continue
        avg, busiest = cpu_millicores(samples)
        peak = max(samples, key=lambda s: s[1])
        print(f"{phase:>6} {samples[-1][0] - samples[0][0]:>8.1f} {avg:>10.1f} {busiest:>13.1f} "
              f"{peak[1] / MiB:>13.1f} {peak[2] / MiB:>8.1f} {peak[3] / MiB:>10.1f} "
              f"{peak[5] / MiB:>11.1f}")
    scale = phases["scale"]
    cpu_per_scrape = (scale[-1][4] - scale[0][4]) / len(times) / 1e6
    idle_avg, _ = cpu_millicores(phases["idle"])
    print(f"\nscrape at {args.namespaces}x{args.listeners}: median "
          f"{statistics.median(times):.1f} ms, p99 {p99(times):.1f} ms, "
          f"{cpu_per_scrape:.1f} ms CPU each; paced every "
          f"{args.interval:g} s: median {statistics.median(paced):.1f} ms")
    print(f"steady state at one scrape per {args.interval:g} s: "
          f"{idle_avg + cpu_per_scrape / args.interval:.1f} millicores")
    print(f"storm: {storm_scrapes[0][2]:.0f} connections/s")
    print(f"peaks: cgroup memory.max_usage_in_bytes {max_usage / MiB:.1f} MiB, "
          f"exporter VmHWM {hwm / 1024:.1f} MiB; memory.failcnt {failcnt}; "
          f"CFS periods throttled {cpu_stat.get('nr_throttled')} of "
          f"{cpu_stat.get('nr_periods')} ({int(cpu_stat.get('throttled_time', 0)) / 1e9:.2f} s)")
    problems = [line for line in logs.splitlines() if "level=warn" in line or "level=error" in line]
    if problems:
        print("exporter log:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
