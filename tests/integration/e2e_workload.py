"""A listener that keeps overflowing until told to stop, for the end-to-end
alerting test. Run inside a test namespace:

    ip netns exec NS python3 e2e_workload.py --port P [--backlog 2]
        [--hold N] [--no-overflow] [--comm NAME]

It listens with a small backlog and never accepts, fills the accept queue
with backlog+1 connections (what the kernel admits before it drops) that it
holds open, then opens a non-blocking connect every --interval seconds: the
listener drops each SYN (ListenOverflows, ListenDrops and the listener's
sk_drops rise by one). Each connect is closed before its first SYN retry (1 s)
so that every connect is exactly one drop and nothing lingers after a stop.

With --hold N (N <= backlog) and --no-overflow it queues N connections and
makes no other: a listener held near full that never drops. --comm names the
process (what the exporter reports as the listener's `process`).

Commands, one per line on standard input; each is answered with one JSON line:
  stop   stop connecting; the accept queue stays full, drops stop rising
  drain  stop connecting, accept everything queued and keep accepting
EOF ends the workload. It also stops connecting by itself after --seconds
(a safety net: the test normally says stop long before).
"""
import argparse
import ctypes
import json
import select
import socket
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backlog", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between two dropped connects")
    parser.add_argument("--seconds", type=float, default=600,
                        help="stop connecting after this long in any case")
    parser.add_argument("--hold", type=int,
                        help="connections to queue (default backlog+1: full)")
    parser.add_argument("--no-overflow", action="store_true",
                        help="no connects beyond the held ones")
    parser.add_argument("--comm", help="process name (PR_SET_NAME, at most 15 bytes)")
    args = parser.parse_args()
    if args.comm:
        PR_SET_NAME = 15
        ctypes.CDLL(None).prctl(PR_SET_NAME, args.comm.encode(), 0, 0, 0)
    hold = args.backlog + 1 if args.hold is None else args.hold
    if args.no_overflow and hold > args.backlog:
        parser.error("--no-overflow needs --hold <= --backlog")
    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    target = (args.addr, args.port)

    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(target)
    listener.listen(args.backlog)

    # Fill the accept queue: the kernel queues backlog+1 before it drops.
    held = []
    for _ in range(hold):
        c = socket.socket(family, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(target)
        held.append(c)

    lock = threading.Lock()
    state = {"connecting": not args.no_overflow, "draining": False, "connects": 0,
             "accepted": 0}

    def connect_loop():
        pending = []  # (deadline, socket) of connects whose SYN was dropped
        stop_at = time.monotonic() + args.seconds
        while True:
            now = time.monotonic()
            with lock:
                connecting = state["connecting"] and now < stop_at
            for deadline, c in [p for p in pending if not connecting or p[0] <= now]:
                c.close()
                pending.remove((deadline, c))
            if not connecting:
                return
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(target)
            pending.append((now + 0.5, c))
            with lock:
                state["connects"] += 1
            time.sleep(args.interval)

    def accept_loop():
        listener.setblocking(False)
        accepted = []
        while True:
            ready, _, _ = select.select([listener], [], [], 0.2)
            with lock:
                if not state["draining"]:
                    return
            if ready:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                accepted.append(conn)
                with lock:
                    state["accepted"] += 1

    connector = threading.Thread(target=connect_loop, daemon=True)
    connector.start()
    print(json.dumps({"ready": True, "held": len(held)}), flush=True)

    acceptor = None
    for line in sys.stdin:
        command = line.strip()
        if command in ("stop", "drain"):
            with lock:
                state["connecting"] = False
            connector.join()
            if command == "drain" and acceptor is None:
                with lock:
                    state["draining"] = True
                acceptor = threading.Thread(target=accept_loop, daemon=True)
                acceptor.start()
                # Everything that was queued is accepted before we answer.
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    with lock:
                        if state["accepted"] >= len(held):
                            break
                    time.sleep(0.02)
            with lock:
                reply = {"command": command, "connects": state["connects"],
                         "accepted": state["accepted"]}
            print(json.dumps(reply), flush=True)
        elif command:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    with lock:
        state["connecting"] = False
        state["draining"] = False
    connector.join()
    if acceptor is not None:
        acceptor.join()


if __name__ == "__main__":
    main()
