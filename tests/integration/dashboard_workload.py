"""Background TCP traffic that gives every panel of the dashboards something
to draw, for the live dashboard-query check of the end-to-end test. Run as
root inside a test namespace (it sets the namespace's sysctls and nftables):

    ip netns exec NS python3 dashboard_workload.py

Prints one JSON line {"ready": true, "ports": {...}} once the sockets are in
place, then keeps going, about once a second, until its standard input
closes. In every minute this namespace sees:

  overflow  a backlog-2 listener that never accepts, its queue full (3/2) with
            connections that wait longer and longer (the oldest accept-queue
            wait), and one connect a second whose SYN it drops
            (ListenOverflows, ListenDrops, listener drops); each such connect
            is closed after 0.5 s, in SYN_SENT (a connect failure).
  flood     a backlog-4 listener whose SYN-ACKs nftables drops on the way in:
            its SYN queue stays full, so each new SYN gets a SYN cookie or,
            with tcp_syncookies switched to 0 every other round, is dropped
            (SyncookiesSent, TCPReqQFullDoCookies, TCPReqQFullDrop); the
            listener retransmits its SYN-ACKs and the clients their SYNs
            (SYN-ACK retransmits, retransmits in syn_sent) until they give
            up after 1.5 s (connect failures).
  refused   a connect a second to a port nobody listens on (a reset sent by
            the kernel, one received by the client, a connect failure).
  data      a held connection whose data segments nftables drops at random
            (retransmits in established).
  normal    connects that are accepted, held 50 ms and closed (connections
            opened, connect latency, time in syn_sent, syn_recv, established,
            fin_wait*, close_wait, last_ack, time_wait).
  held      established pairs and a half-closed pair (close_wait, fin_wait2)
            kept open for tcpq_sockets and the oldest socket per state.
  peers     PEER_CONNECTIONS connections from 127.0.0.2 to the normal
            listener, accepted and held: a top peer (at least the exporter's
            default --collector.sockets.peer-min-connections).
"""
import json
import os
import select
import socket
import subprocess
import sys
import time

ADDR = "127.0.0.1"
PEER = "127.0.0.2"  # on lo like ADDR: every 127/8 address is local
PEER_CONNECTIONS = 12


def listen(backlog):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR, 0))
    s.listen(backlog)
    return s


def port_of(s):
    return s.getsockname()[1]


def free_port():
    with socket.socket() as s:
        s.bind((ADDR, 0))
        return s.getsockname()[1]


def sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


def nft(*rules):
    subprocess.run(["nft", "add table inet tcpqdash; add chain inet tcpqdash in "
                    "{ type filter hook input priority 0; }"], check=True)
    for rule in rules:
        subprocess.run(["nft", f"add rule inet tcpqdash in {rule}"], check=True)


def nonblocking_connect(port):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex((ADDR, port))
    return c


def pair(listener, source=None):
    c = socket.create_connection((ADDR, port_of(listener)), timeout=5,
                                 source_address=(source, 0) if source else None)
    s, _ = listener.accept()
    return c, s


def main():
    # Half-open connections expire after one SYN-ACK retransmit (about 3 s),
    # so the flood listener's SYN queue empties between rounds.
    sysctl("net.ipv4.tcp_synack_retries", 1)
    sysctl("net.ipv4.tcp_syncookies", 1)

    overflow = listen(2)
    flood = listen(4)
    data = listen(16)
    normal = listen(64)
    refused_port = free_port()
    nft(f"tcp sport {port_of(flood)} tcp flags & (syn | ack) == syn | ack drop",
        f"tcp dport {port_of(data)} tcp flags & psh == psh numgen random mod 2 == 0 drop")

    held = [socket.create_connection((ADDR, port_of(overflow)), timeout=5) for _ in range(3)]
    held += [x for _ in range(2) for x in pair(normal)]
    held += [x for _ in range(PEER_CONNECTIONS) for x in pair(normal, PEER)]
    c, s = pair(normal)
    c.shutdown(socket.SHUT_WR)  # c: FIN_WAIT2, s: CLOSE_WAIT
    held += [c, s]
    data_client, data_server = pair(data)
    data_server.setblocking(False)

    ports = {"overflow": port_of(overflow), "flood": port_of(flood), "data": port_of(data),
             "normal": port_of(normal), "refused": refused_port}
    print(json.dumps({"ready": True, "ports": ports}), flush=True)

    pending = []  # (close at, socket): connects left in SYN_SENT on purpose
    rounds = 0
    next_round = time.monotonic()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], max(0.0, next_round - time.monotonic()))
        if ready and not sys.stdin.readline():
            break  # standard input closed: the test is done
        now = time.monotonic()
        for item in [p for p in pending if p[0] <= now]:
            item[1].close()
            pending.remove(item)
        if now < next_round:
            continue
        next_round = now + 1.0
        rounds += 1

        pending.append((now + 0.5, nonblocking_connect(port_of(overflow))))
        c = socket.socket()
        if c.connect_ex((ADDR, refused_port)) == 0:
            raise SystemExit(f"something listens on {refused_port}")
        c.close()
        for _ in range(2):
            c, s = pair(normal)
            c.sendall(b"ping")
            s.recv(16)
            time.sleep(0.05)
            c.close()
            s.close()
        data_client.sendall(b"x" * 200)
        try:
            while data_server.recv(65536):
                pass
        except BlockingIOError:
            pass
        if rounds % 2 == 1:
            sysctl("net.ipv4.tcp_syncookies", (rounds // 2) % 2)
            pending.extend((now + 1.5, nonblocking_connect(port_of(flood))) for _ in range(6))

    for _, c in pending:
        c.close()
    for c in held + [data_client, data_server, overflow, flood, data, normal]:
        c.close()


if __name__ == "__main__":
    main()
