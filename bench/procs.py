"""Process handling shared by the benchmarks (standard library only)."""
import subprocess
import sys

PER_WORKER = 7500  # connections per worker: 15000 fds, under the 20000 limit

# Holds `count` loopback connections to its own listener on `port` (two
# established sockets each) until its stdin closes.
WORKER = r"""
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(4096)
held = []
for _ in range(count):
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = ls.accept()
    held += (c, s)
print("ready", flush=True)
sys.stdin.read()
"""


def start_workers(ns, connections, first_port):
    """Worker processes in namespace `ns` holding `connections` connections,
    PER_WORKER each, on ports from `first_port`; returns once all are ready."""
    workers = []
    for i in range(0, connections, PER_WORKER):
        workers.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", WORKER,
             str(first_port + len(workers)), str(min(PER_WORKER, connections - i))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for w in workers:
        if w.stdout.readline().strip() != "ready":
            raise RuntimeError("worker failed")
    return workers


def stop_all(procs, timeout):
    """Closes each process's stdin (the workers exit on EOF), terminates it,
    and kills whatever has not exited `timeout` seconds later."""
    for p in procs:
        if p.stdin:
            p.stdin.close()
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
