/* Types and constants shared by the BPF programs (tcpq.bpf.c) and user space
 * (loader.cc): map keys, map values, indexes. Plain C, fixed-width kernel
 * types, no padding surprises: both sides must agree byte for byte. */
#ifndef TCPQ_BPF_TCPQ_H_
#define TCPQ_BPF_TCPQ_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
#define TCPQ_TCP_ESTABLISHED 1
#define TCPQ_TCP_SYN_SENT 2
#define TCPQ_TCP_SYN_RECV 3
#define TCPQ_TCP_FIN_WAIT1 4
#define TCPQ_TCP_FIN_WAIT2 5
#define TCPQ_TCP_TIME_WAIT 6
#define TCPQ_TCP_CLOSE 7
#define TCPQ_TCP_CLOSE_WAIT 8
#define TCPQ_TCP_LAST_ACK 9
#define TCPQ_TCP_LISTEN 10
#define TCPQ_TCP_CLOSING 11
/* Array size for per-state values, indexed by the state number; index 0 is
 * unused. Request sockets (NEW_SYN_RECV, 12) and bound-only sockets (13) are
 * not full sockets and are not counted. */
#define TCPQ_STATES 12

/* The hooks the programs attach to, in the order of
 * tcpq_bpf_program_attached: X(ID, program label, kind). The label is the
 * tracepoint's name; iter_tcp is the walk that seeds the socket gauge;
 * iter_sk_storage_walk and iter_sk_storage_connections walk the socket
 * storage of every namespace (the sockets collector, GET /connections);
 * iter_sk_storage_listeners reads every namespace's listening sockets, and
 * iter_sk_storage_netns what the files of every namespace the exporter
 * reads print (TCP MIBs, sysctls, TIME_WAIT count), from its struct net.
 * kind: TRACEPOINT (a tp_btf program with a raw_tp twin) or ITER. */
#define TCPQ_HOOK_LIST(X)                                   \
  X(SET_STATE, "inet_sock_set_state", TRACEPOINT)           \
  X(RETRANSMIT_SKB, "tcp_retransmit_skb", TRACEPOINT)       \
  X(RETRANSMIT_SYNACK, "tcp_retransmit_synack", TRACEPOINT) \
  X(SEND_RESET, "tcp_send_reset", TRACEPOINT)               \
  X(RECEIVE_RESET, "tcp_receive_reset", TRACEPOINT)         \
  X(ITER_TCP, "iter_tcp", ITER)                             \
  X(WALK, "iter_sk_storage_walk", ITER)                     \
  X(CONNECTIONS, "iter_sk_storage_connections", ITER)       \
  X(LISTENERS, "iter_sk_storage_listeners", ITER)           \
  X(NETNS, "iter_sk_storage_netns", ITER)

enum tcpq_hook_kind { TCPQ_HOOK_KIND_TRACEPOINT, TCPQ_HOOK_KIND_ITER };

enum tcpq_hook {
#define TCPQ_HOOK_ENUM(id, label, kind) TCPQ_HOOK_##id,
  TCPQ_HOOK_LIST(TCPQ_HOOK_ENUM)
#undef TCPQ_HOOK_ENUM
      TCPQ_HOOKS
};

/* Per-namespace event counters, one line each, the only place a counter is
 * declared: X(ID, HOOK, metric, label, value, help).
 *   ID     names the index TCPQ_COUNTER_<ID> of tcpq_netns_stats.counters,
 *          which tcpq.bpf.c increments;
 *   HOOK   the TCPQ_HOOK_<HOOK> whose program counts it: no series while
 *          that program is not attached;
 *   metric, label, value: the series it is exported as ("" for no label);
 *   help   its HELP text, the same on every line of one metric.
 * Adding a counter: one line here, its increment in tcpq.bpf.c, its row in
 * the README. User space sums the CPUs and exports every line by itself. */
#define TCPQ_HELP_OPENED                                                  \
  "Connections established: active (SYN_SENT -> ESTABLISHED, connect()) " \
  "or passive (SYN_RECV -> ESTABLISHED, accepted by a listener)."
#define TCPQ_HELP_RESETS \
  "TCP resets sent (tcp:tcp_send_reset) or received (tcp:tcp_receive_reset)."
#define TCPQ_COUNTER_LIST(X)                                                 \
  X(CONNECT_ATTEMPTS, SET_STATE, "tcpq_connect_attempts_total", "", "",      \
    "Outgoing connection attempts (CLOSE -> SYN_SENT).")                     \
  X(OPENED_ACTIVE, SET_STATE, "tcpq_connections_opened_total", "direction",  \
    "active", TCPQ_HELP_OPENED)                                              \
  X(OPENED_PASSIVE, SET_STATE, "tcpq_connections_opened_total", "direction", \
    "passive", TCPQ_HELP_OPENED)                                             \
  X(CONNECT_FAILURES, SET_STATE, "tcpq_connect_failures_total", "", "",      \
    "Outgoing connection attempts that failed (SYN_SENT -> CLOSE: refused, " \
    "timed out, reset).")                                                    \
  X(RESETS_SENT, SEND_RESET, "tcpq_resets_total", "direction", "sent",       \
    TCPQ_HELP_RESETS)                                                        \
  X(RESETS_RECEIVED, RECEIVE_RESET, "tcpq_resets_total", "direction",        \
    "received", TCPQ_HELP_RESETS)

enum tcpq_counter {
#define TCPQ_COUNTER_ENUM(id, ...) TCPQ_COUNTER_##id,
  TCPQ_COUNTER_LIST(TCPQ_COUNTER_ENUM)
#undef TCPQ_COUNTER_ENUM
      TCPQ_COUNTERS
};

/* Counters and the socket gauge of one network namespace. Per-CPU: user space
 * sums the CPUs, 64-bit word by word (every field is one or more 64-bit
 * words). sockets[] is signed because one CPU may see a socket leave a state
 * that another CPU saw it enter. */
struct tcpq_netns_stats {
  __s64 sockets[TCPQ_STATES];
  __u64 retransmits[TCPQ_STATES];
  __u64 counters[TCPQ_COUNTERS];
};

/* Key of the SYN-ACK retransmit map: the listener's namespace and port. */
struct tcpq_synack_key {
  __u32 netns;
  __u16 port; /* host byte order */
  __u16 pad;  /* always 0 */
};

/* Per-socket storage (BPF_MAP_TYPE_SK_STORAGE, freed with the socket).
 * 56 bytes: with the kernel's 72-byte element header, one 128-byte slab
 * object per socket (96 bytes with the first 16 alone). */
struct tcpq_sk_state {
  /* Written by inet_sock_set_state and the seeding walk only. */
  /* bpf_ktime_get_ns() when it entered `state`; with TCPQ_SK_SEEDED, when the
   * seeding walk first saw it (it was in `state` already). */
  __u64 entered_ns;
  __u8 state; /* the state counted in sockets[], 0: not counted */
  __u8 flags; /* TCPQ_SK_*; cleared on every transition */
  /* Written by walk_sockets only: the last pass that counted it. */
  __u16 walk_pass;
  /* Written by walk_sockets only: what it read of the struct sock, so that
   * later passes read this storage alone (the socket is another cache miss,
   * on another page: a third of a pass). Valid while walk_flags has
   * TCPQ_SK_WALK_READ and walk_tag is the low half of entered_ns, i.e.
   * until the socket's next transition (what it keeps changes only through
   * CLOSE and a new connect(); a transition whose time matches the tag, one
   * in 2^32, keeps the old values). Addresses in network byte order,
   * AF_INET in the first 4 bytes, the rest 0 (storage starts zeroed and a
   * socket's family never changes). */
  __u32 netns;
  __u32 walk_tag;
  __u16 port; /* local, host byte order */
  __u8 family;
  __u8 walk_flags; /* TCPQ_SK_WALK_* */
  __u8 local_addr[16];
  __u8 remote_addr[16];
};
/* The socket was in `state` before the programs saw it: entered_ns is when
 * the seeding walk found it, so no duration is observed for that state. */
#define TCPQ_SK_SEEDED 1u
/* netns, port, family and the addresses are the socket's, read while it was
 * in `state`. */
#define TCPQ_SK_WALK_READ 1u
/* A process held it (sk_socket) in this state: it is in no accept queue.
 * Only close() takes a socket from its process, and that is a transition. */
#define TCPQ_SK_WALK_HELD 2u

/* One socket as the walk over the socket storage reports it
 * (iter/bpf_sk_storage_map, every namespace in one pass): fixed size, a
 * multiple of 8 bytes, written back to back. Addresses are in network byte
 * order, AF_INET in the first 4 bytes; ports in host byte order. */
struct tcpq_walk_socket {
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u64 cookie;   /* socket cookie (ss -e "sk:"); /connections only */
  __u64 since_ns; /* entered_ns of its storage; 0: unknown */
  __u32 netns;
  __u16 local_port;
  __u16 remote_port;
  __u8 family; /* AF_INET, AF_INET6 */
  __u8 state;  /* the socket's TCP state now */
  __u8 flags;  /* TCPQ_WALK_* */
  __u8 pad[5];
};
/* One listening socket as read_listeners reports it, with what a LISTEN-only
 * sock_diag dump says of it (tcp_diag_get_info, sk_get_meminfo): written
 * back to back, every namespace in one pass over listen_sk, the storage
 * every socket gets when it enters LISTEN (or is seeded in it). Address in
 * network byte order (AF_INET in the first 4 bytes), port in host order. */
struct tcpq_listener_record {
  __u8 local_addr[16];
  __u64 inode; /* sock_i_ino: the socket's inode, 0: no socket */
  __u32 netns;
  __u32 ack_backlog;     /* sk_ack_backlog: the accept queue (Recv-Q) */
  __u32 max_ack_backlog; /* sk_max_ack_backlog: its limit (Send-Q) */
  __u32 drops;           /* sk_drops_read(): SK_MEMINFO_DROPS */
  __u16 local_port;
  __u8 family; /* AF_INET, AF_INET6 */
  __u8 pad[5];
};
/* The per-namespace sysctls read_netns reads from struct net, the only place
 * one is declared: X(ID, name as sysctl prints it, member of struct net,
 * help). The sysctl collector exports every line; it reads a namespace's
 * files instead while the record lacks one. */
#define TCPQ_SYSCTL_LIST(X)                                               \
  X(SOMAXCONN, "net.core.somaxconn", core.sysctl_somaxconn,               \
    "Upper bound of every listener's accept queue (listen() backlog is "  \
    "capped to it).")                                                     \
  X(MAX_SYN_BACKLOG, "net.ipv4.tcp_max_syn_backlog",                      \
    ipv4.sysctl_max_syn_backlog,                                          \
    "Bound of half-open connections (SYN queue) per listener.")           \
  X(SYNCOOKIES, "net.ipv4.tcp_syncookies", ipv4.sysctl_tcp_syncookies,    \
    "0 off, 1 send SYN cookies when the SYN queue overflows, 2 always.")  \
  X(ABORT_ON_OVERFLOW, "net.ipv4.tcp_abort_on_overflow",                  \
    ipv4.sysctl_tcp_abort_on_overflow,                                    \
    "1: reset connections when the accept queue is full, instead of "     \
    "dropping the ACK.")                                                  \
  X(SYNACK_RETRIES, "net.ipv4.tcp_synack_retries",                        \
    ipv4.sysctl_tcp_synack_retries,                                       \
    "SYN-ACK retransmits before a half-open connection is dropped.")      \
  X(SYN_RETRIES, "net.ipv4.tcp_syn_retries", ipv4.sysctl_tcp_syn_retries, \
    "SYN retransmits of connect() before it fails.")

enum tcpq_sysctl {
#define TCPQ_SYSCTL_ENUM(id, name, member, help) TCPQ_SYSCTL_##id,
  TCPQ_SYSCTL_LIST(TCPQ_SYSCTL_ENUM)
#undef TCPQ_SYSCTL_ENUM
      TCPQ_SYSCTLS
};

/* What read_netns reports of one namespace, read from its struct net: what
 * the namespace's files print, without the kernel formatting them as text.
 *   tcp[], linux_mib[]: the Tcp line of /proc/net/snmp (by TCP_MIB_*) and
 *     the TcpExt line of /proc/net/netstat (by LINUX_MIB_*), each entry
 *     summed over the possible CPUs as the kernel sums it; only the first
 *     tcp_mibs and linux_mibs entries exist on the running kernel (user
 *     space maps the files' field names to them through the kernel's BTF);
 *   sysctls[]: TCPQ_SYSCTL_LIST, bit i of sysctls_read set when read;
 *   time_wait: the "tw" of /proc/net/sockstat, when has_time_wait.
 * One record per namespace that holds a socket with netns_anchor storage
 * (user space keeps one in each namespace it reads). */
#define TCPQ_TCP_MIB_SLOTS 32    /* __TCP_MIB_MAX is 16 in Linux 6.18 */
#define TCPQ_LINUX_MIB_SLOTS 256 /* __LINUX_MIB_MAX is 136 in Linux 6.18 */
struct tcpq_netns_record {
  __u32 netns;
  __u32 cpus; /* CPUs whose MIB copies were added; fewer than possible: unusable
               */
  __u16 tcp_mibs;
  __u16 linux_mibs;
  __u8 sysctls_read;
  __u8 has_time_wait;
  __u8 pad[2];
  __s64 sysctls[TCPQ_SYSCTLS];
  __u64 time_wait;
  __u64 tcp[TCPQ_TCP_MIB_SLOTS];
  __u64 linux_mib[TCPQ_LINUX_MIB_SLOTS];
};
/* The walk of the sockets collector (walk_sockets) writes nothing: it
 * aggregates in these maps during the pass, which user space reads and
 * clears after it. The kernel stops a BPF iterator at the end of each read()
 * that returns bytes (8 pages at most) and after a million elements, and
 * resumes it by position in the map's bucket: it walks the bucket again up
 * to there (there are as many buckets as CPUs, rounded up to a power of
 * two), so a record per socket cost O(sockets^2) (300 ms of CPU at 90k
 * sockets here), and a socket inserted or deleted meanwhile before that
 * position shifts it: a socket comes round twice, or one is skipped. So
 * walk_sockets counts a socket only in a pass it has not counted it in
 * (tcpq_sk_state.walk_pass), and user space walks again, counting only the
 * sockets still uncounted, after a pass that was stopped (see
 * bpf::Programs::WalkAggregated). With nothing written, below a million
 * sockets one read() walks everything once.
 *
 * Only ESTABLISHED sockets on a listening port (server side) count as peers:
 * user space sets the ports of the previous pass's listeners, of every
 * namespace, in walk_port_bits (global data). A client socket whose port
 * some other namespace listens on costs map entries user space then drops
 * (it ties entries to listeners of their own namespace). */
/* Oldest since_ns per namespace and state (walk_oldest). */
struct tcpq_walk_state_key {
  __u32 netns;
  __u32 state;
};
/* A local endpoint of a namespace. Unused address bytes are 0. Listening
 * sockets per endpoint are counted in walk_listeners (value: a __u64). */
struct tcpq_walk_endpoint {
  __u8 addr[16];
  __u32 netns;
  __u16 port;
  __u8 family;
  __u8 pad;
};
/* Connections waiting in an accept queue, per local endpoint (walk_queued). */
struct tcpq_walk_queue {
  __u64 oldest_since_ns; /* 0: none of known age */
  __u64 count;
};
/* Established server-side connections per local endpoint and remote
 * address (walk_peers, value: a __u64 count). */
struct tcpq_walk_peer_key {
  struct tcpq_walk_endpoint local;
  __u8 remote[16];
};
/* The oldest since_ns per state of the namespaces whose inode number maps
 * to a slot first (inode % TCPQ_WALK_SLOTS) are kept in a plain array of
 * global data (walk_slots): a hash update per socket was a fifth of the
 * pass. Other namespaces go to walk_oldest. */
#define TCPQ_WALK_SLOTS 1024
struct tcpq_walk_slot {
  __u32 netns;
  __u32 used;
  __u64 oldest[TCPQ_STATES]; /* since_ns; 0: none */
};
#define TCPQ_MAX_WALK_LISTENERS 16384
#define TCPQ_MAX_WALK_OLDEST 65536
#define TCPQ_MAX_WALK_QUEUED 65536
#define TCPQ_MAX_WALK_PEERS 262144

/* since_ns is when the exporter first saw it, not when it entered its state. */
#define TCPQ_WALK_SEEDED 1u
/* No struct socket: not accept()ed yet (a passive socket in the accept
 * queue) or closed by its process (orphaned; then never ESTABLISHED). */
#define TCPQ_WALK_NO_SOCKET 2u

/* What walk_connections reports (global data set by user space before a
 * pass; one request at a time): the sockets matching every set field, as
 * tcpq_connection records, or with since_only just their since_ns (a __u64
 * each: the first of two passes, which finds the age of the limit-th oldest
 * so that the second writes only those; every record written costs a
 * restart of the walk per 8 pages, see walk_sockets). */
struct tcpq_conn_filter {
  __u64 max_since_ns; /* 0: any; else since_ns known and <= it (min_age) */
  __u32 netns;        /* 0: any */
  __u32 states;       /* 1 << state; 0: any */
  __u16 port;         /* local; 0: any */
  __u8 has_peer;
  __u8 since_only;
  __u8 peer[16]; /* remote address, IPv6 form (IPv4 as ::ffff:a.b.c.d) */
  __u32 pad;
};

/* A socket with what GET /connections shows of it, tcp_info's fields as the
 * kernel computes them (tcp_get_info). */
#define TCPQ_UNKNOWN_MS 0xFFFFFFFFu
struct tcpq_connection {
  struct tcpq_walk_socket socket;
  __u32 recv_q; /* ss Recv-Q: unread bytes; LISTEN: accept queue length */
  __u32 send_q; /* ss Send-Q: unacknowledged bytes; LISTEN: its limit */
  __u32 rtt_us;
  __u32 rttvar_us;
  __u32 retransmits; /* unanswered retransmits of the current timeout */
  __u32 total_retrans;
  __u32 lost;
  __u32 cwnd;
  __u32 snd_wnd;
  __u32 rcv_wnd;
  __u64 bytes_acked;
  __u64 bytes_received;
  __u32 last_data_sent_ms; /* TCPQ_UNKNOWN_MS without the kernel's HZ */
  __u32 last_data_recv_ms;
};

/* Histograms: slot i counts durations d with 2^(i-31) s < d <= 2^(i-30) s
 * (slot 0: d <= 2^-30 s), so 2^(i-30) seconds, a power of two in seconds,
 * is an inclusive upper bound as Prometheus' `le` requires. sum_ns is the
 * exact sum of the durations in nanoseconds. */
#define TCPQ_HIST_SLOTS 64
#define TCPQ_HIST_SLOT0_LOG2_SECONDS (-30)
struct tcpq_hist {
  __u64 slots[TCPQ_HIST_SLOTS];
  __u64 sum_ns;
};

#define TCPQ_ALWAYS_INLINE inline __attribute__((always_inline))

/* floor(log2(v)) for v > 0, without loops (BPF). */
static TCPQ_ALWAYS_INLINE __u32 tcpq_log2(__u64 v) {
  __u32 r = (v > 0xFFFFFFFFULL) << 5;
  __u32 shift;
  v >>= r;
  shift = (v > 0xFFFF) << 4;
  v >>= shift;
  r |= shift;
  shift = (v > 0xFF) << 3;
  v >>= shift;
  r |= shift;
  shift = (v > 0xF) << 2;
  v >>= shift;
  r |= shift;
  shift = (v > 0x3) << 1;
  v >>= shift;
  r |= shift;
  r |= (__u32)(v >> 1);
  return r;
}

/* The histogram slot of a duration of `ns` nanoseconds: the smallest i with
 * ns <= 2^(i-30) * 1e9, clamped to the last slot. With j the smallest j with
 * ns <= 2^j, i is j or j + 1 because 2^29 < 1e9 < 2^30; one exact integer
 * comparison decides (no division on the hot path). */
static TCPQ_ALWAYS_INLINE __u32 tcpq_hist_slot(__u64 ns) {
  __u32 j = ns <= 1 ? 0 : tcpq_log2(ns - 1) + 1; /* 0..64 */
  int fits;
  if (j < 30)
    fits = (ns << (30 - j)) <= 1000000000ULL; /* ns << (30-j) <= 2^30 */
  else
    fits = ns <= (1000000000ULL << (j - 30)); /* j - 30 <= 34: no overflow */
  __u32 slot = fits ? j : j + 1;
  return slot < TCPQ_HIST_SLOTS ? slot : TCPQ_HIST_SLOTS - 1;
}

/* Indexes of the histograms: 1..11 time spent in that state, then the
 * connect (SYN_SENT -> ESTABLISHED) duration. */
#define TCPQ_HIST_CONNECT TCPQ_STATES
#define TCPQ_HISTS (TCPQ_STATES + 1)

/* Key of the per-namespace histograms (--collector.bpf.histogram-netns). */
struct tcpq_hist_key {
  __u32 netns;
  __u32 index; /* as above */
};

/* The bounded maps whose failed inserts are counted (map_failures, indexed
 * by TCPQ_MAP_<ID>): X(ID, map name). */
#define TCPQ_MAP_LIST(X)              \
  X(NETNS_STATS, "netns_stats")       \
  X(SYNACK, "synack_retransmits")     \
  X(SK_STATE, "sk_state")             \
  X(NETNS_HISTS, "netns_hists")       \
  X(WALK_LISTENERS, "walk_listeners") \
  X(WALK_OLDEST, "walk_oldest")       \
  X(WALK_QUEUED, "walk_queued")       \
  X(WALK_PEERS, "walk_peers")         \
  X(LISTEN_SK, "listen_sk")

enum tcpq_map {
#define TCPQ_MAP_ENUM(id, name) TCPQ_MAP_##id,
  TCPQ_MAP_LIST(TCPQ_MAP_ENUM)
#undef TCPQ_MAP_ENUM
      TCPQ_MAPS
};

/* Bounds of the hash maps. */
#define TCPQ_MAX_NETNS 8192
#define TCPQ_MAX_SYNACK_PORTS 16384
#define TCPQ_MAX_NETNS_HISTS 16384

#endif /* TCPQ_BPF_TCPQ_H_ */
