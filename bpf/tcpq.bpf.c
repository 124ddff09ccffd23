// SPDX-License-Identifier: GPL-2.0
/* tcpq_exporter's BPF programs: TCP state transitions, retransmits, SYN-ACK
 * retransmits and resets, aggregated in per-CPU maps that user space reads at
 * scrape time. Nothing is sent to user space per event.
 *
 * Every hook has two entry points sharing one body: tp_btf (preferred: direct
 * loads through BTF pointers, and the only one that can use socket storage)
 * and raw_tp (fallback: bpf_probe_read through CO-RE). User space loads one of
 * them per hook. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tcpq.h"

char LICENSE[] SEC("license") = "GPL";

#define EEXIST 17
#define IPPROTO_TCP_NUM 6

/* Every update of a map value is atomic, although the maps are per CPU: a
 * program running in process context can be interrupted by another program
 * (or, on a preemptible kernel, preempted) between the load and the store of
 * a plain increment, and the gauge and counters must not lose updates. */

/* Set by user space before loading: the running kernel's tcp_retransmit_skb
 * tracepoint has a third argument `err` and fires for failed retransmits
 * too (newer kernels); only err == 0 is a retransmit. */
const volatile bool retransmit_has_err = false;
/* Set by user space: histograms per namespace (netns_hists) instead of one
 * node-wide set (hists). */
const volatile bool hist_by_netns = false;
/* Set by user space: libbpf_num_possible_cpus(), the CPUs whose copies of a
 * per-CPU MIB the kernel sums. */
const volatile __u32 possible_cpus = 1;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TCPQ_MAX_NETNS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tcpq_netns_stats);
} netns_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TCPQ_MAX_SYNACK_PORTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_synack_key);
  __type(value, __u64);
} synack_retransmits SEC(".maps");

/* No BPF_F_CLONE: a child cloned from a listener starts without storage. */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct tcpq_sk_state);
} sk_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TCPQ_HISTS);
  __type(key, __u32);
  __type(value, struct tcpq_hist);
} hists SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TCPQ_MAX_NETNS_HISTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_hist_key);
  __type(value, struct tcpq_hist);
} netns_hists SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TCPQ_MAPS);
  __type(key, __u32);
  __type(value, __u64);
} map_failures SEC(".maps");

/* Every socket that entered LISTEN since the programs were attached, or was
 * seeded in it: what read_listeners walks. The value is unused: storage
 * goes with its socket. */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u8);
} listen_sk SEC(".maps");

/* One socket user space keeps in each namespace it reads, given this
 * storage from user space: what read_netns walks to find every namespace. */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u8);
} netns_anchor SEC(".maps");

/* read_netns' record and one CPU's copy of a MIB: too big for the stack. */
struct mib_scratch {
  struct tcpq_netns_record rec;
  __u64 cpu_copy[TCPQ_LINUX_MIB_SLOTS];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mib_scratch);
} mib_scratch SEC(".maps");
static const struct mib_scratch zero_mib_scratch;

/* What walk_sockets aggregates (see tcpq.h); user space clears them. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TCPQ_MAX_WALK_LISTENERS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_walk_endpoint);
  __type(value, __u64);
} walk_listeners SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TCPQ_MAX_WALK_OLDEST);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_walk_state_key);
  __type(value, __u64);
} walk_oldest SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TCPQ_MAX_WALK_QUEUED);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_walk_endpoint);
  __type(value, struct tcpq_walk_queue);
} walk_queued SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TCPQ_MAX_WALK_PEERS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tcpq_walk_peer_key);
  __type(value, __u64);
} walk_peers SEC(".maps");

/* Sockets the current walk_sockets pass saw, and the oldest per namespace
 * and state; user space zeroes them before a pass. Only the one walker
 * thread runs that program: plain loads and stores. */
__u64 walk_seen = 0;
/* The pass, set by user space: never 0, the walk_pass of a new storage. */
__u16 walk_current_pass = 0;
/* Test seam (TCPQ_BPF_WALK_READ_SIZE): write a record's worth of zeroes per
 * socket counted, so that the kernel stops and resumes the iteration as it
 * does when output fills a read(). */
__u8 walk_test_filler = 0;
struct tcpq_walk_slot walk_slots[TCPQ_WALK_SLOTS] = {};
/* Bit p set: some namespace listened on port p at the previous pass; a
 * socket on another port is a client's. */
__u8 walk_port_bits[65536 / 8] = {};

static const struct tcpq_netns_stats zero_stats;
static const struct tcpq_walk_queue zero_queue;
static const __u64 zero_u64;
static const struct tcpq_hist zero_hist;
static const struct tcpq_walk_socket zero_walk_socket;

static __always_inline void count_failure(__u32 map) {
  __u64 *failures = bpf_map_lookup_elem(&map_failures, &map);
  if (failures) __sync_fetch_and_add(failures, 1);
}

/* The value of `key` in the hash `map`, inserted as `zero` on first use. A
 * failed insert (map full, no memory) is counted under `failed_map` (a
 * TCPQ_MAP_*), never silently ignored. */
static __always_inline void *lookup_or_insert(void *map, const void *key,
                                              const void *zero,
                                              __u32 failed_map) {
  void *value = bpf_map_lookup_elem(map, key);
  if (value) return value;
  long err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
  if (err && err != -EEXIST) {
    count_failure(failed_map);
    return NULL;
  }
  return bpf_map_lookup_elem(map, key);
}

/* Gives a listening socket its listen_sk storage (read_listeners walks it). */
static __always_inline void mark_listener(struct sock *sk) {
  if (!bpf_sk_storage_get(&listen_sk, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE))
    count_failure(TCPQ_MAP_LISTEN_SK);
}

static __always_inline struct tcpq_netns_stats *netns_stats_get(__u32 netns) {
  return lookup_or_insert(&netns_stats, &netns, &zero_stats,
                          TCPQ_MAP_NETNS_STATS);
}

/* counters[counter] += 1 (a TCPQ_COUNTER_*). */
static __always_inline void count(struct tcpq_netns_stats *stats,
                                  enum tcpq_counter counter) {
  __sync_fetch_and_add(&stats->counters[counter], 1);
}

/* Field reads. With `btf` (tp_btf, iter) the pointers are BTF pointers and a
 * plain load suffices; otherwise (raw_tp) they are read with
 * bpf_probe_read_kernel. `btf` is a constant in every caller, so only one
 * branch is compiled. */
static __always_inline __u32 sk_netns(const struct sock *sk, const bool btf) {
  if (btf) return sk->__sk_common.skc_net.net->ns.inum;
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline __u32 sk_protocol(const struct sock *sk,
                                         const bool btf) {
  if (btf) return sk->sk_protocol;
  return BPF_CORE_READ(sk, sk_protocol);
}

static __always_inline __u32 sk_tcp_state(const struct sock *sk,
                                          const bool btf) {
  if (btf) return sk->__sk_common.skc_state;
  return BPF_CORE_READ(sk, __sk_common.skc_state);
}

static __always_inline void observe(__u32 netns, __u32 index, __u64 ns) {
  struct tcpq_hist *hist;
  if (hist_by_netns) {
    struct tcpq_hist_key key = {.netns = netns, .index = index};
    hist = lookup_or_insert(&netns_hists, &key, &zero_hist,
                            TCPQ_MAP_NETNS_HISTS);
  } else {
    hist = bpf_map_lookup_elem(&hists, &index);
  }
  if (!hist) return;
  __u32 slot = tcpq_hist_slot(ns);
  __sync_fetch_and_add(&hist->slots[slot & (TCPQ_HIST_SLOTS - 1)], 1);
  __sync_fetch_and_add(&hist->sum_ns, ns);
}

/* sockets[state] += delta for a countable state. The barrier keeps clang from
 * merging the two checks into one range check the verifier cannot follow. */
static __always_inline void add_socket(struct tcpq_netns_stats *stats,
                                       __u32 state, __s64 delta) {
  if (state == 0 || state == TCPQ_TCP_CLOSE) return;
  barrier_var(state);
  if (state < TCPQ_STATES) __sync_fetch_and_add(&stats->sockets[state], delta);
}

static __always_inline void handle_set_state(const struct sock *sk,
                                             int oldstate, int newstate,
                                             const bool btf) {
  if (sk_protocol(sk, btf) != IPPROTO_TCP_NUM) return;
  __u32 netns = sk_netns(sk, btf);
  struct tcpq_netns_stats *stats = netns_stats_get(netns);

  /* The socket gauge counts each socket in the state its storage names, so
   * a socket is counted at most once whatever order the seeding walk and the
   * transitions come in, and a transition this program missed is repaired
   * by the next one. Without storage (raw_tp) there is no gauge. */
  if (btf) {
    if (newstate == TCPQ_TCP_LISTEN) mark_listener((struct sock *)sk);
    struct tcpq_sk_state *st = bpf_sk_storage_get(
        &sk_state, (struct sock *)sk, NULL,
        newstate != TCPQ_TCP_CLOSE ? BPF_SK_STORAGE_GET_F_CREATE : 0);
    if (!st) {
      if (newstate != TCPQ_TCP_CLOSE) count_failure(TCPQ_MAP_SK_STATE);
    } else {
      __u32 counted = st->state;
      __u64 now = bpf_ktime_get_ns();
      if (stats) add_socket(stats, counted, -1);
      /* A seeded socket's entered_ns is when it was first seen, not when
       * it entered its state: no duration for it. */
      if (counted == (__u32)oldstate && !st->flags && now > st->entered_ns) {
        __u64 duration = now - st->entered_ns;
        observe(netns, counted, duration);
        if (oldstate == TCPQ_TCP_SYN_SENT &&
            newstate == TCPQ_TCP_ESTABLISHED)
          observe(netns, TCPQ_HIST_CONNECT, duration);
      }
      if (newstate != TCPQ_TCP_CLOSE && newstate > 0 &&
          newstate < TCPQ_STATES && stats) {
        add_socket(stats, newstate, 1);
        st->state = newstate;
        st->entered_ns = now;
      } else {
        st->state = 0;
        st->entered_ns = 0;
      }
      st->flags = 0;
    }
  }

  if (!stats) return;
  if (oldstate == TCPQ_TCP_CLOSE && newstate == TCPQ_TCP_SYN_SENT)
    count(stats, TCPQ_COUNTER_CONNECT_ATTEMPTS);
  else if (oldstate == TCPQ_TCP_SYN_SENT && newstate == TCPQ_TCP_ESTABLISHED)
    count(stats, TCPQ_COUNTER_OPENED_ACTIVE);
  else if (oldstate == TCPQ_TCP_SYN_RECV && newstate == TCPQ_TCP_ESTABLISHED)
    count(stats, TCPQ_COUNTER_OPENED_PASSIVE);
  else if (oldstate == TCPQ_TCP_SYN_SENT && newstate == TCPQ_TCP_CLOSE)
    count(stats, TCPQ_COUNTER_CONNECT_FAILURES);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_btf, const struct sock *sk, const int oldstate,
             const int newstate) {
  handle_set_state(sk, oldstate, newstate, true);
  return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(set_state_raw, const struct sock *sk, const int oldstate,
             const int newstate) {
  handle_set_state(sk, oldstate, newstate, false);
  return 0;
}

static __always_inline void handle_retransmit(const struct sock *sk,
                                              const bool btf) {
  __u32 state = sk_tcp_state(sk, btf);
  struct tcpq_netns_stats *stats = netns_stats_get(sk_netns(sk, btf));
  if (stats && state < TCPQ_STATES)
    __sync_fetch_and_add(&stats->retransmits[state], 1);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit_skb_btf, const struct sock *sk) {
  if (retransmit_has_err && (int)ctx[2] != 0) return 0;
  handle_retransmit(sk, true);
  return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(retransmit_skb_raw, const struct sock *sk) {
  if (retransmit_has_err && (int)ctx[2] != 0) return 0;
  handle_retransmit(sk, false);
  return 0;
}

static __always_inline void handle_retransmit_synack(
    const struct sock *sk, const struct request_sock *req, const bool btf) {
  struct tcpq_synack_key key = {};
  key.netns = sk_netns(sk, btf);
  key.port = btf ? req->__req_common.skc_num
                 : BPF_CORE_READ(req, __req_common.skc_num);
  __u64 *retransmits = lookup_or_insert(&synack_retransmits, &key, &zero_u64,
                                        TCPQ_MAP_SYNACK);
  if (retransmits) __sync_fetch_and_add(retransmits, 1);
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack_btf, const struct sock *sk,
             const struct request_sock *req) {
  handle_retransmit_synack(sk, req, true);
  return 0;
}

SEC("raw_tp/tcp_retransmit_synack")
int BPF_PROG(retransmit_synack_raw, const struct sock *sk,
             const struct request_sock *req) {
  handle_retransmit_synack(sk, req, false);
  return 0;
}

/* A reset sent without a socket (e.g. to a closed port) belongs to the
 * namespace of the device the offending segment came in on. */
static __always_inline void handle_send_reset(const struct sock *sk,
                                              const struct sk_buff *skb,
                                              const bool btf) {
  __u32 netns = 0;
  if (sk) {
    netns = sk_netns(sk, btf);
  } else if (skb) {
    netns = btf ? skb->dev->nd_net.net->ns.inum
                : BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
  }
  if (netns == 0) return;
  struct tcpq_netns_stats *stats = netns_stats_get(netns);
  if (stats) count(stats, TCPQ_COUNTER_RESETS_SENT);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset_btf, const struct sock *sk, const struct sk_buff *skb) {
  handle_send_reset(sk, skb, true);
  return 0;
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(send_reset_raw, const struct sock *sk, const struct sk_buff *skb) {
  handle_send_reset(sk, skb, false);
  return 0;
}

static __always_inline void handle_receive_reset(const struct sock *sk,
                                                 const bool btf) {
  struct tcpq_netns_stats *stats = netns_stats_get(sk_netns(sk, btf));
  if (stats) count(stats, TCPQ_COUNTER_RESETS_RECEIVED);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset_btf, const struct sock *sk) {
  handle_receive_reset(sk, true);
  return 0;
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(receive_reset_raw, const struct sock *sk) {
  handle_receive_reset(sk, false);
  return 0;
}

/* Seeds the socket gauge with the full sockets of the namespace the iterator
 * was created in (iter/tcp walks only that one). A socket already given
 * storage by a transition since the programs were attached is counted
 * there and skipped here. Timewait and request sockets are not full sockets
 * (bpf_skc_to_tcp_sock returns NULL): TIME_WAIT is read from sockstat. */
SEC("iter/tcp")
int seed_sockets(struct bpf_iter__tcp *ctx) {
  struct sock_common *skc = ctx->sk_common;
  if (!skc) return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
  if (!tp) return 0;
  __u32 state = skc->skc_state;
  if (state == 0 || state == TCPQ_TCP_CLOSE || state >= TCPQ_STATES) return 0;
  if (state == TCPQ_TCP_LISTEN) mark_listener((struct sock *)tp);
  struct tcpq_sk_state *st =
      bpf_sk_storage_get(&sk_state, tp, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!st) {
    count_failure(TCPQ_MAP_SK_STATE);
    return 0;
  }
  if (st->state) return 0;
  struct tcpq_netns_stats *stats = netns_stats_get(skc->skc_net.net->ns.inum);
  if (!stats) return 0;
  st->state = state;
  /* When it entered `state` is unknown: ages count from now, and no
   * duration is observed for it (TCPQ_SK_SEEDED). */
  st->entered_ns = bpf_ktime_get_ns();
  st->flags = TCPQ_SK_SEEDED;
  add_socket(stats, state, 1);
  return 0;
}

/* The kernel's HZ, to turn tcp_sock's jiffies into milliseconds as
 * tcp_get_info does; 0 when libbpf finds no kernel config. */
extern unsigned int CONFIG_HZ __kconfig __weak;

#define AF_INET_NUM 2
#define AF_INET6_NUM 10

/* Fills what every walk needs of a socket: the first cache line of
 * sock_common and the storage. False for a socket the walk skips: no counted
 * state (closed, or storage of a socket the programs never counted), or not
 * an inet socket. */
static __always_inline bool fill_walk_head(struct tcpq_walk_socket *rec,
                                           const struct sock *sk,
                                           const struct tcpq_sk_state *st) {
  const struct sock_common *skc = &sk->__sk_common;
  __u32 state = skc->skc_state;
  if (st->state == 0 || state == 0 || state == TCPQ_TCP_CLOSE ||
      state >= TCPQ_STATES)
    return false;
  __u16 family = skc->skc_family;
  if (family != AF_INET_NUM && family != AF_INET6_NUM) return false;
  rec->family = family;
  rec->state = state;
  rec->netns = skc->skc_net.net->ns.inum;
  rec->local_port = skc->skc_num;
  rec->remote_port = bpf_ntohs(skc->skc_dport);
  /* A storage state that is not the socket's (a transition this program
   * did not see) leaves the time unknown. */
  rec->since_ns = st->state == state ? st->entered_ns : 0;
  rec->flags = (st->flags & TCPQ_SK_SEEDED) ? TCPQ_WALK_SEEDED : 0;
  return true;
}

/* A socket's addresses (IPv6 ones are on the next cache line). Only the
 * bytes of the family are written. */
static __always_inline void read_addresses(const struct sock *sk, __u32 family,
                                           __u8 local[16], __u8 remote[16]) {
  const struct sock_common *skc = &sk->__sk_common;
  if (family == AF_INET_NUM) {
    __builtin_memcpy(local, &skc->skc_rcv_saddr, 4);
    __builtin_memcpy(remote, &skc->skc_daddr, 4);
  } else {
    __builtin_memcpy(local, &skc->skc_v6_rcv_saddr, 16);
    __builtin_memcpy(remote, &skc->skc_v6_daddr, 16);
  }
}

/* The rest: addresses and whether a process holds the socket (sk_socket, on
 * another cache line again). Only read for sockets that need them. */
static __always_inline void fill_walk_detail(struct tcpq_walk_socket *rec,
                                             const struct sock *sk) {
  read_addresses(sk, rec->family, rec->local_addr, rec->remote_addr);
  if (!sk->sk_socket) rec->flags |= TCPQ_WALK_NO_SOCKET;
}

/* The local endpoint a walk_sockets storage names. */
static __always_inline void walk_endpoint(const struct tcpq_sk_state *st,
                                          struct tcpq_walk_endpoint *e) {
  __builtin_memcpy(e->addr, st->local_addr, 16);
  e->netns = st->netns;
  e->port = st->port;
  e->family = st->family;
}

/* The sockets collector's pass: every socket that has storage, in every
 * namespace, aggregated in the walk_* maps (see tcpq.h). Storage exists for
 * every full socket that changed state since the programs were attached and
 * every one a seeding walk (iter/tcp, per namespace) found: one pass covers
 * all namespaces, where iter/tcp or sock_diag would walk the whole table
 * once per namespace. Timewait and request sockets have no storage.
 *
 * The struct sock is read once per socket and state (kept in its storage,
 * see tcpq_sk_state), then only for whether a process holds a server-side
 * connection, until one does. */
SEC("iter/bpf_sk_storage_map")
int walk_sockets(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  struct tcpq_sk_state *st = ctx->value;
  if (!sk || !st) return 0;
  /* Once per pass, however often the kernel's resumed iteration (or a
   * second walk) comes round to it (see tcpq.h). Closed sockets are marked
   * too, so that every storage has a recent pass, never the one 2^16
   * passes on. */
  if (st->walk_pass == walk_current_pass) return 0;
  st->walk_pass = walk_current_pass;
  __u32 state = st->state;
  if (state == 0 || state >= TCPQ_STATES) return 0;
  if (walk_test_filler)
    bpf_seq_write(ctx->meta->seq, &zero_walk_socket, sizeof(zero_walk_socket));
  __u64 since_ns = st->entered_ns;
  bool kept =
      (st->walk_flags & TCPQ_SK_WALK_READ) && st->walk_tag == (__u32)since_ns;
  if (!kept) {
    const struct sock_common *skc = &sk->__sk_common;
    __u32 now = skc->skc_state;
    if (now == 0 || now == TCPQ_TCP_CLOSE || now >= TCPQ_STATES) return 0;
    __u16 family = skc->skc_family;
    if (family != AF_INET_NUM && family != AF_INET6_NUM) return 0;
    st->netns = skc->skc_net.net->ns.inum;
    st->port = skc->skc_num;
    st->family = family;
    read_addresses(sk, family, st->local_addr, st->remote_addr);
    if (now == state) {
      st->walk_tag = (__u32)since_ns;
      st->walk_flags = TCPQ_SK_WALK_READ;
      kept = true;
    } else {
      /* A transition the programs did not see: the socket's own state, for
       * an unknown time; read again next pass. */
      st->walk_flags = 0;
      state = now;
      since_ns = 0;
    }
  }
  __u32 netns = st->netns;
  __u16 port = st->port;
  walk_seen++;
  if (since_ns && state < TCPQ_STATES) {
    struct tcpq_walk_slot *slot = &walk_slots[netns & (TCPQ_WALK_SLOTS - 1)];
    __u64 *oldest;
    if (!slot->used) {
      slot->used = 1;
      slot->netns = netns;
    }
    if (slot->netns == netns) {
      oldest = &slot->oldest[state];
    } else {
      struct tcpq_walk_state_key key = {.netns = netns, .state = state};
      oldest =
          lookup_or_insert(&walk_oldest, &key, &zero_u64, TCPQ_MAP_WALK_OLDEST);
    }
    if (oldest && (*oldest == 0 || since_ns < *oldest)) *oldest = since_ns;
  }
  if (state == TCPQ_TCP_LISTEN) {
    struct tcpq_walk_endpoint listener = {};
    walk_endpoint(st, &listener);
    __u64 *count = lookup_or_insert(&walk_listeners, &listener, &zero_u64,
                                    TCPQ_MAP_WALK_LISTENERS);
    if (count) (*count)++;
    return 0;
  }
  /* Only a listener's connections count: established ones as peers, and
   * those no process holds yet (ESTABLISHED; SYN_RECV with TCP Fast Open;
   * CLOSE_WAIT once the client closed) as waiting in its accept queue. */
  if (state != TCPQ_TCP_ESTABLISHED && state != TCPQ_TCP_SYN_RECV &&
      state != TCPQ_TCP_CLOSE_WAIT)
    return 0;
  if (!(walk_port_bits[(port >> 3) & 8191] & (1 << (port & 7)))) return 0;
  struct tcpq_walk_peer_key peer = {};
  walk_endpoint(st, &peer.local);
  __builtin_memcpy(peer.remote, st->remote_addr, 16);
  /* A process that holds it keeps it until a transition (close()). */
  bool queued = false;
  if (!kept || !(st->walk_flags & TCPQ_SK_WALK_HELD)) {
    if (!sk->sk_socket)
      queued = true;
    else if (kept)
      st->walk_flags |= TCPQ_SK_WALK_HELD;
  }
  if (queued) {
    struct tcpq_walk_queue *q = lookup_or_insert(
        &walk_queued, &peer.local, &zero_queue, TCPQ_MAP_WALK_QUEUED);
    if (q) {
      q->count++;
      if (since_ns &&
          (q->oldest_since_ns == 0 || since_ns < q->oldest_since_ns))
        q->oldest_since_ns = since_ns;
    }
  }
  if (state == TCPQ_TCP_ESTABLISHED) {
    __u64 *count =
        lookup_or_insert(&walk_peers, &peer, &zero_u64, TCPQ_MAP_WALK_PEERS);
    if (count) (*count)++;
  }
  return 0;
}

struct tcpq_conn_filter conn_filter = {};

/* Whether a socket passes conn_filter. */
static __always_inline bool conn_matches(const struct tcpq_walk_socket *rec) {
  if (conn_filter.netns && rec->netns != conn_filter.netns) return false;
  if (conn_filter.port && rec->local_port != conn_filter.port) return false;
  if (conn_filter.states && !(conn_filter.states & (1u << (rec->state & 31))))
    return false;
  if (conn_filter.max_since_ns &&
      (!rec->since_ns || rec->since_ns > conn_filter.max_since_ns))
    return false;
  if (conn_filter.has_peer) {
    __u8 remote[16] = {};
    if (rec->family == AF_INET_NUM) {
      remote[10] = 0xff;
      remote[11] = 0xff;
      __builtin_memcpy(&remote[12], rec->remote_addr, 4);
    } else {
      __builtin_memcpy(remote, rec->remote_addr, 16);
    }
    for (int i = 0; i < 16; i++)
      if (remote[i] != conn_filter.peer[i]) return false;
  }
  return true;
}

static __always_inline __u32 jiffies_to_ms(__u32 jiffies) {
  if (CONFIG_HZ == 0) return TCPQ_UNKNOWN_MS;
  return (__u64)jiffies * 1000 / CONFIG_HZ;
}

/* GET /connections: the same walk with tcp_info's fields, read from the
 * tcp_sock as tcp_get_info computes them. */
SEC("iter/bpf_sk_storage_map")
int walk_connections(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  struct tcpq_sk_state *st = ctx->value;
  if (!sk || !st) return 0;
  struct tcpq_connection rec = {};
  if (!fill_walk_head(&rec.socket, sk, st)) return 0;
  fill_walk_detail(&rec.socket, sk);
  if (!conn_matches(&rec.socket)) return 0;
  if (conn_filter.since_only) {
    bpf_seq_write(ctx->meta->seq, &rec.socket.since_ns, sizeof(__u64));
    return 0;
  }
  rec.socket.cookie = bpf_get_socket_cookie(sk);
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  rec.last_data_sent_ms = TCPQ_UNKNOWN_MS;
  rec.last_data_recv_ms = TCPQ_UNKNOWN_MS;
  if (rec.socket.state == TCPQ_TCP_LISTEN) {
    /* As ss: the accept queue; a listener has no connection to describe. */
    rec.recv_q = sk->sk_ack_backlog;
    rec.send_q = sk->sk_max_ack_backlog;
  } else if (tp) {
    __s32 unread = tp->rcv_nxt - tp->copied_seq;
    rec.recv_q = unread > 0 ? unread : 0;
    rec.send_q = tp->write_seq - tp->snd_una;
    rec.rtt_us = tp->srtt_us >> 3;
    rec.rttvar_us = tp->mdev_us >> 2;
    rec.retransmits = tp->inet_conn.icsk_retransmits;
    rec.total_retrans = tp->total_retrans;
    rec.lost = tp->lost_out;
    rec.cwnd = tp->snd_cwnd;
    rec.snd_wnd = tp->snd_wnd;
    rec.rcv_wnd = tp->rcv_wnd;
    rec.bytes_acked = tp->bytes_acked;
    rec.bytes_received = tp->bytes_received;
    __u32 now = bpf_jiffies64();
    rec.last_data_sent_ms = jiffies_to_ms(now - tp->lsndtime);
    rec.last_data_recv_ms =
        jiffies_to_ms(now - tp->inet_conn.icsk_ack.lrcvtime);
  }
  bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
  return 0;
}

/* sk_drops_read(): newer kernels may count a socket's drops per NUMA node. */
static __always_inline __u32 listener_drops(const struct sock *sk) {
  if (bpf_core_field_exists(sk->sk_drop_counters)) {
    const struct numa_drop_counters *counters = sk->sk_drop_counters;
    if (counters) return counters->drops0.counter + counters->drops1.counter;
  }
  return sk->sk_drops.counter;
}

/* Every listening socket of every namespace, as a LISTEN-only sock_diag dump
 * of its namespace reports it (tcpq_listener_record): one pass over
 * listen_sk, where sock_diag scans the host-wide listening hash once per
 * namespace. User space trusts it only for namespaces seeded before the
 * pass, whose older listeners the seeding walk marked. */
SEC("iter/bpf_sk_storage_map")
int read_listeners(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  if (!sk || !ctx->value) return 0;
  const struct sock_common *skc = &sk->__sk_common;
  if (skc->skc_state != TCPQ_TCP_LISTEN) return 0;
  __u16 family = skc->skc_family;
  if (family != AF_INET_NUM && family != AF_INET6_NUM) return 0;
  struct tcpq_listener_record rec = {};
  __u8 unused[16];
  read_addresses(sk, family, rec.local_addr, unused);
  rec.netns = skc->skc_net.net->ns.inum;
  rec.local_port = skc->skc_num;
  rec.family = family;
  rec.ack_backlog = sk->sk_ack_backlog;
  rec.max_ack_backlog = sk->sk_max_ack_backlog;
  rec.drops = listener_drops(sk);
  struct socket *socket = sk->sk_socket;
  /* SOCK_INODE(): the inode the socket is allocated with. */
  if (socket)
    rec.inode = BPF_CORE_READ((struct socket_alloc *)socket, vfs_inode.i_ino);
  bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
  return 0;
}

/* The value of a pointer, as a number the verifier lets us do arithmetic
 * with (it forbids most arithmetic on pointers themselves). */
static __always_inline __u64 address_of(const void *pointer) {
  __u64 address = 0;
  bpf_probe_read_kernel(&address, sizeof(address), &pointer);
  return address;
}

/* CPU `cpu`'s per-CPU offset (__per_cpu_offset[cpu], which neither this
 * kernel's BTF nor its kallsyms describe): a per-CPU map's element on that
 * CPU sits at the element's per-CPU pointer plus the offset. */
static __always_inline bool per_cpu_offset(__u32 cpu, __u64 *offset) {
  const __u32 zero = 0;
  const void *on_cpu = bpf_map_lookup_percpu_elem(&mib_scratch, &zero, cpu);
  if (!on_cpu) return false;
  __u64 per_cpu_pointer; /* ((struct bpf_array *)&mib_scratch)->pptrs[0] */
  if (bpf_probe_read_kernel(
          &per_cpu_pointer, sizeof(per_cpu_pointer),
          (void *)(address_of(&mib_scratch) +
                   bpf_core_field_offset(struct bpf_array, pptrs))))
    return false;
  *offset = address_of(on_cpu) - per_cpu_pointer;
  return true;
}

struct mib_sum {
  struct mib_scratch *scratch;
  __u64 tcp_base;   /* net->mib.tcp_statistics; 0: none */
  __u64 linux_base; /* net->mib.net_statistics; 0: none */
};

/* total[i] += the first `count` entries of one CPU's copy of a per-CPU MIB
 * (`base` plus that CPU's `offset`). */
static __always_inline bool add_mib(__u64 *total, __u64 *cpu_copy, __u64 base,
                                    __u64 offset, __u32 count) {
  if (!base || bpf_probe_read_kernel(cpu_copy, count * sizeof(__u64),
                                     (void *)(base + offset)))
    return false;
  for (__u32 i = 0; i < count; i++) total[i] += cpu_copy[i];
  return true;
}

static long add_cpu_mibs(__u64 cpu, void *data) {
  struct mib_sum *sum = data;
  __u64 offset;
  if (!per_cpu_offset(cpu, &offset)) return 1;
  struct mib_scratch *s = sum->scratch;
  __u32 tcp = bpf_core_type_size(struct tcp_mib) / sizeof(__u64);
  __u32 linux = bpf_core_type_size(struct linux_mib) / sizeof(__u64);
  if (tcp > TCPQ_TCP_MIB_SLOTS) tcp = TCPQ_TCP_MIB_SLOTS;
  if (linux > TCPQ_LINUX_MIB_SLOTS) linux = TCPQ_LINUX_MIB_SLOTS;
  s->rec.tcp_mibs = tcp;
  s->rec.linux_mibs = linux;
  if (add_mib(s->rec.tcp, s->cpu_copy, sum->tcp_base, offset, tcp) &&
      add_mib(s->rec.linux_mib, s->cpu_copy, sum->linux_base, offset, linux))
    s->rec.cpus++;
  return 0;
}

/* An integer member of `size` bytes (a sysctl: int or u8 depending on the
 * kernel and the sysctl), as the kernel prints it. */
static __always_inline __s64 read_int(const void *member, __u32 size) {
  __u64 raw = 0;
  if (size > sizeof(raw) || bpf_probe_read_kernel(&raw, size, member)) return 0;
  return size == sizeof(int) ? (__s64)(int)raw : (__s64)raw;
}

/* What every namespace with an anchor prints in its files
 * (tcpq_netns_record): the TCP MIBs summed over the CPUs as
 * snmp_get_cpu_field_batch() sums them for /proc/net/snmp and
 * /proc/net/netstat, the queue sysctls and the TIME_WAIT count, without
 * formatting 150 numbers as text per namespace. */
SEC("iter/bpf_sk_storage_map")
int read_netns(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  if (!sk || !ctx->value) return 0;
  const __u32 zero = 0;
  /* Zeroed by a copy: a loop would be turned into a memset call. */
  if (bpf_map_update_elem(&mib_scratch, &zero, &zero_mib_scratch, BPF_ANY))
    return 0;
  struct mib_scratch *scratch = bpf_map_lookup_elem(&mib_scratch, &zero);
  if (!scratch) return 0;
  struct tcpq_netns_record *rec = &scratch->rec;
  const struct net *net = sk->__sk_common.skc_net.net;
  struct mib_sum sum = {.scratch = scratch};
  if (bpf_core_read(&sum.tcp_base, sizeof(sum.tcp_base),
                    &net->mib.tcp_statistics) ||
      bpf_core_read(&sum.linux_base, sizeof(sum.linux_base),
                    &net->mib.net_statistics))
    return 0;
  rec->netns = net->ns.inum;
  bpf_loop(possible_cpus, add_cpu_mibs, &sum, 0);
#define TCPQ_READ_SYSCTL(id, name, member, help)                    \
  if (bpf_core_field_exists(net->member)) {                         \
    rec->sysctls[TCPQ_SYSCTL_##id] =                                \
        read_int(&net->member, bpf_core_field_size(net->member));   \
    rec->sysctls_read |= 1 << TCPQ_SYSCTL_##id;                     \
  }
  TCPQ_SYSCTL_LIST(TCPQ_READ_SYSCTL)
#undef TCPQ_READ_SYSCTL
  /* sockstat's tw: refcount_read(&tcp_death_row.tw_refcount) - 1. */
  if (bpf_core_field_exists(net->ipv4.tcp_death_row.tw_refcount)) {
    int refs = 0;
    if (!bpf_core_read(&refs, sizeof(refs),
                       &net->ipv4.tcp_death_row.tw_refcount.refs.counter) &&
        refs > 0) {
      rec->time_wait = refs - 1;
      rec->has_time_wait = 1;
    }
  }
  bpf_seq_write(ctx->meta->seq, rec, sizeof(*rec));
  return 0;
}
