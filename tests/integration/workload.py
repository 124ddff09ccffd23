"""Socket workloads for the integration tests, run inside a test namespace.

Usage: ip netns exec NS python3 workload.py MODE [options]
Prints one JSON line when the sockets are in place, then holds them until its
standard input closes, so the test decides when they go away.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time


def listen(family, addr, port, backlog, reuseport=False):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


def connect_nonblocking(family, addr, port, count):
    clients = []
    for _ in range(count):
        c = socket.socket(family, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex((addr, port))
        clients.append(c)
    return clients


def connect_from(family, addr, port, sources):
    """Blocking connects to addr:port, COUNT from each SOURCE ("SOURCE:COUNT",
    the client bound to SOURCE first)."""
    clients = []
    for source in sources:
        source_addr, count = source.rsplit(":", 1)
        for _ in range(int(count)):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.bind((source_addr, 0))
            c.connect((addr, port))
            clients.append(c)
    return clients


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["listen", "overflow", "halfopen", "serve",
                                         "closewait", "noaccept", "listeners", "churn"])
    parser.add_argument("--addr", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backlog", type=int, default=128)
    parser.add_argument("--sockets", type=int, default=1, help="SO_REUSEPORT group size")
    parser.add_argument("--connects", type=int, default=0)
    parser.add_argument("--ports", type=int, default=1,
                        help="listeners: that many listeners from --port on")
    parser.add_argument("--from", dest="sources", action="append", default=[],
                        metavar="SOURCE:COUNT",
                        help="serve/closewait/noaccept: COUNT clients bound to SOURCE")
    args = parser.parse_args()
    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    if args.mode == "listeners":
        # Listener i gets i % 4 + 1 clients from 127.0.0.2, i % 3 from
        # 127.0.0.3 and, every fifth, one from 127.0.0.4; every seventh
        # accepts none (they wait in its accept queue).
        held = []
        for i in range(args.ports):
            ls = listen(family, args.addr, args.port + i, args.backlog)
            clients = connect_from(family, args.addr, args.port + i, [
                f"127.0.0.2:{i % 4 + 1}", f"127.0.0.3:{i % 3}",
                f"127.0.0.4:{1 if i % 5 == 0 else 0}"])
            held += [ls, *clients]
            if i % 7 != 0:
                held += [ls.accept()[0] for _ in clients]
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.read()
        return
    if args.mode == "churn":
        # Connects, accepts and closes (the client with a reset: no
        # TIME_WAIT to run out of ports) as fast as it can, until stdin
        # closes: sockets get storage and lose it all the time.
        ls = listen(family, args.addr, args.port, args.backlog)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        print(json.dumps({"ready": True}), flush=True)
        while not done.is_set():
            c = socket.create_connection((args.addr, args.port))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s, _ = ls.accept()
            c.close()
            s.close()
        return
    held = [listen(family, args.addr, args.port, args.backlog, args.sockets > 1)
            for _ in range(args.sockets)]
    if args.mode in ("overflow", "halfopen"):
        clients = connect_nonblocking(family, args.addr, args.port, args.connects)
        time.sleep(0.5)
        if args.mode == "overflow":
            # Closing the clients stops their SYN retries, so the listener's
            # counters settle and can be compared exactly.
            for c in clients:
                c.close()
            time.sleep(0.5)
        else:
            held.extend(clients)
    elif args.mode in ("serve", "closewait", "noaccept"):
        # serve: every connection accepted and held open on both sides;
        # closewait: accepted, then the clients close and the server never
        # does (its sockets stay in CLOSE_WAIT); noaccept: never accepted
        # (the connections wait in the accept queue).
        clients = connect_from(family, args.addr, args.port, args.sources)
        if args.mode != "noaccept":
            for _ in clients:
                held.append(held[0].accept()[0])
        if args.mode == "closewait":
            for c in clients:
                c.close()
            clients = []
        held.extend(clients)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
