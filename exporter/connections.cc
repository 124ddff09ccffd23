#include "exporter/connections.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bpf/convert.h"
#include "bpf/walk_records.h"
#include "procfs/inet_diag.h"

namespace tcpq::connections {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                         0, 0, 0, 0, 0xff, 0xff};

// %XX and '+' of a query component; nullopt when a % is malformed.
std::optional<std::string> UrlDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        c = absl::ascii_tolower(c);
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
      };
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

absl::Status Bad(absl::string_view name, absl::string_view value,
                 absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(
      name, " must be ", want, ", got \"", absl::CHexEscape(value), "\""));
}

bool ParseState(absl::string_view name, uint32_t& bits) {
  for (uint32_t state = 1; state < TCPQ_STATES; ++state) {
    if (state != TCPQ_TCP_CLOSE && bpf::TcpStateName(state) == name) {
      bits |= 1u << state;
      return true;
    }
  }
  return false;
}

// The address as AF_INET6 bytes (an IPv4 address v4-mapped).
void AsV6(int family, const uint8_t* bytes, uint8_t out[16]) {
  if (family == AF_INET) {
    std::memcpy(out, kV4MappedPrefix, 12);
    std::memcpy(out + 12, bytes, 4);
  } else {
    std::memcpy(out, bytes, 16);
  }
}

std::string HostPort(int family, const uint8_t* addr, uint16_t port) {
  const std::string text = procfs::FormatAddress(family, addr);
  return family == AF_INET6 ? absl::StrCat("[", text, "]:", port)
                            : absl::StrCat(text, ":", port);
}

void AppendJsonString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string Ms(uint32_t ms) {
  return ms == TCPQ_UNKNOWN_MS ? "null" : absl::StrCat(ms);
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

Response Text(int status, absl::string_view line) {
  return {status, "text/plain; charset=utf-8", absl::StrCat(line, "\n")};
}

}  // namespace

absl::StatusOr<Query> ParseQuery(absl::string_view query_string) {
  Query query;
  absl::flat_hash_set<std::string> seen;
  for (absl::string_view pair : absl::StrSplit(query_string, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::optional<std::string> name = UrlDecode(pair.substr(0, eq));
    const std::optional<std::string> value =
        UrlDecode(eq == absl::string_view::npos ? "" : pair.substr(eq + 1));
    if (!name.has_value() || !value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed %-escape in \"", absl::CHexEscape(pair), "\""));
    }
    if (!seen.insert(*name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", absl::CHexEscape(*name), " given twice"));
    }
    const std::string& v = *value;
    if (*name == "netns") {
      uint32_t netns;
      if (!absl::SimpleAtoi(v, &netns) || v.empty() || v[0] == '+' ||
          v[0] == '-') {
        return Bad("netns", v, "a namespace's inode number");
      }
      query.netns = netns;
    } else if (*name == "namespace" || *name == "pod") {
      if (v.empty()) return Bad(*name, v, "a name");
      (*name == "pod" ? query.pod : query.kubernetes_namespace) = v;
    } else if (*name == "port") {
      uint32_t port;
      if (!absl::SimpleAtoi(v, &port) || port < 1 || port > 65535 ||
          v[0] == '+') {
        return Bad("port", v, "a port number 1-65535");
      }
      query.port = static_cast<uint16_t>(port);
    } else if (*name == "peer") {
      Address a;
      if (inet_pton(AF_INET, v.c_str(), a.bytes) == 1) {
        a.family = AF_INET;
      } else if (inet_pton(AF_INET6, v.c_str(), a.bytes) == 1) {
        a.family = AF_INET6;
      } else {
        return Bad("peer", v, "an IPv4 or IPv6 address");
      }
      query.peer = a;
    } else if (*name == "state") {
      for (absl::string_view state : absl::StrSplit(v, ',')) {
        if (!ParseState(state, query.states)) {
          return Bad("state", v,
                     "TCP states such as established,close_wait (not close)");
        }
      }
    } else if (*name == "min_age") {
      double seconds;
      if (!absl::SimpleAtod(v, &seconds) || !std::isfinite(seconds) ||
          seconds < 0 || v.empty() || !absl::ascii_isdigit(v[0])) {
        return Bad("min_age", v, "a number of seconds, 0 or more");
      }
      query.min_age = seconds;
    } else if (*name == "limit") {
      size_t limit;
      if (!absl::SimpleAtoi(v, &limit) || limit < 1 || limit > kMaxLimit ||
          v[0] == '+') {
        return Bad("limit", v, absl::StrCat("1-", kMaxLimit));
      }
      query.limit = limit;
    } else if (*name == "format") {
      if (v != "json" && v != "text") return Bad("format", v, "json or text");
      query.text = v == "text";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter ", absl::CHexEscape(*name),
          " (known: netns, namespace, pod, port, peer, state, min_age, limit, "
          "format)"));
    }
  }
  return query;
}

std::optional<double> SecondsInState(uint64_t since_ns, uint64_t now_ns) {
  if (since_ns == 0) return std::nullopt;
  return now_ns > since_ns ? static_cast<double>(now_ns - since_ns) / 1e9 : 0;
}

tcpq_conn_filter KernelFilter(const Query& query, uint64_t now_ns) {
  tcpq_conn_filter f{};
  f.netns = query.netns.value_or(0);
  f.port = query.port.value_or(0);
  f.states = query.states;
  if (query.min_age > 0) {
    const double age_ns = query.min_age * 1e9;
    // Older than the clock itself: nothing can match (1 keeps the bound on).
    f.max_since_ns = age_ns >= static_cast<double>(now_ns)
                         ? 1
                         : now_ns - static_cast<uint64_t>(age_ns);
  }
  if (query.peer.has_value()) {
    f.has_peer = 1;
    AsV6(query.peer->family, query.peer->bytes, f.peer);
  }
  return f;
}

bool Matches(const Query& query, const tcpq_connection& c,
             std::optional<double> seconds_in_state, const Identity& identity) {
  const tcpq_walk_socket& s = c.socket;
  if (query.netns.has_value() && s.netns != *query.netns) return false;
  if (query.port.has_value() && s.local_port != *query.port) return false;
  if (query.states != 0 && (query.states & (1u << s.state)) == 0) return false;
  if (query.min_age > 0 &&
      (!seconds_in_state.has_value() || *seconds_in_state < query.min_age)) {
    return false;
  }
  if (query.peer.has_value()) {
    uint8_t want[16], have[16];
    AsV6(query.peer->family, query.peer->bytes, want);
    AsV6(s.family, s.remote_addr, have);
    if (std::memcmp(want, have, 16) != 0) return false;
  }
  if (query.kubernetes_namespace.has_value() &&
      identity.kubernetes_namespace != *query.kubernetes_namespace) {
    return false;
  }
  if (query.pod.has_value() && identity.pod != *query.pod) return false;
  return true;
}

namespace {

// Oldest first: the longest in state, unknown last, then by cookie.
auto OrderKey(const Connection& c) {
  return std::make_tuple(!c.seconds_in_state.has_value(),
                         -c.seconds_in_state.value_or(0), c.raw.socket.cookie);
}

}  // namespace

void Oldest::Add(Connection connection) {
  kept_.push_back(std::move(connection));
  if (kept_.size() >= 2 * limit_) Compact();
}

void Oldest::Compact() {
  std::sort(kept_.begin(), kept_.end(),
            [](const Connection& a, const Connection& b) {
              return OrderKey(a) < OrderKey(b);
            });
  // A walk may report a socket twice; its copies sort next to each other.
  kept_.erase(std::unique(kept_.begin(), kept_.end(),
                          [](const Connection& a, const Connection& b) {
                            return a.raw.socket.cookie == b.raw.socket.cookie;
                          }),
              kept_.end());
  if (kept_.size() > limit_) kept_.resize(limit_);
}

std::vector<Connection> Oldest::Take() {
  Compact();
  return std::move(kept_);
}

std::string RenderJson(const std::vector<Connection>& connections,
                       bool with_identity) {
  std::string out = "{\"connections\":[";
  for (size_t i = 0; i < connections.size(); ++i) {
    const Connection& c = connections[i];
    const tcpq_walk_socket& s = c.raw.socket;
    const tcpq_connection& r = c.raw;
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "{\"netns\":", s.netns);
    if (with_identity) {
      out += ",\"namespace\":";
      AppendJsonString(out, c.identity.kubernetes_namespace);
      out += ",\"pod\":";
      AppendJsonString(out, c.identity.pod);
      out += ",\"process\":";
      AppendJsonString(out, c.identity.process);
    }
    absl::StrAppend(&out, ",\"local_address\":\"",
                    procfs::FormatAddress(s.family, s.local_addr),
                    "\",\"local_port\":", s.local_port, ",\"peer_address\":\"",
                    procfs::FormatAddress(s.family, s.remote_addr),
                    "\",\"peer_port\":", s.remote_port, ",\"state\":\"",
                    bpf::TcpStateName(s.state), "\",\"seconds_in_state\":",
                    c.seconds_in_state.has_value()
                        ? absl::StrFormat("%.3f", *c.seconds_in_state)
                        : "null",
                    ",\"in_state_before_exporter\":",
                    (s.flags & TCPQ_WALK_SEEDED) != 0 ? "true" : "false",
                    ",\"recv_q\":", r.recv_q, ",\"send_q\":", r.send_q,
                    ",\"rtt_us\":", r.rtt_us, ",\"rttvar_us\":", r.rttvar_us);
    absl::StrAppend(&out, ",\"retransmits\":", r.retransmits,
                    ",\"total_retransmits\":", r.total_retrans,
                    ",\"lost\":", r.lost, ",\"cwnd\":", r.cwnd,
                    ",\"snd_wnd\":", r.snd_wnd, ",\"rcv_wnd\":", r.rcv_wnd,
                    ",\"bytes_acked\":", r.bytes_acked,
                    ",\"bytes_received\":", r.bytes_received,
                    ",\"last_data_sent_ms\":", Ms(r.last_data_sent_ms),
                    ",\"last_data_recv_ms\":", Ms(r.last_data_recv_ms),
                    ",\"cookie\":", s.cookie, "}");
  }
  out += connections.empty() ? "]}\n" : "\n]}\n";
  return out;
}

std::string RenderText(const std::vector<Connection>& connections,
                       bool with_identity) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {
      "NETNS",        "STATE",       "AGE(s)",  "RECV-Q",      "SEND-Q",
      "LOCAL",        "PEER",        "RTT(ms)", "RETRANS",     "LOST",
      "CWND",         "SND-WND",     "RCV-WND", "BYTES-ACKED", "BYTES-RECEIVED",
      "LAST-SND(ms)", "LAST-RCV(ms)"};
  if (with_identity) {
    header.insert(header.end(), {"NAMESPACE", "POD", "PROCESS"});
  }
  rows.push_back(header);
  for (const Connection& c : connections) {
    const tcpq_walk_socket& s = c.raw.socket;
    const tcpq_connection& r = c.raw;
    const auto ms = [](uint32_t v) {
      return v == TCPQ_UNKNOWN_MS ? std::string("-") : absl::StrCat(v);
    };
    std::vector<std::string> row = {
        absl::StrCat(s.netns),
        std::string(bpf::TcpStateName(s.state)),
        c.seconds_in_state.has_value()
            ? absl::StrFormat("%s%.1f",
                              (s.flags & TCPQ_WALK_SEEDED) != 0 ? ">" : "",
                              *c.seconds_in_state)
            : "-",
        absl::StrCat(r.recv_q),
        absl::StrCat(r.send_q),
        HostPort(s.family, s.local_addr, s.local_port),
        HostPort(s.family, s.remote_addr, s.remote_port),
        absl::StrFormat("%.3f/%.3f", r.rtt_us / 1000.0, r.rttvar_us / 1000.0),
        absl::StrCat(r.retransmits, "/", r.total_retrans),
        absl::StrCat(r.lost),
        absl::StrCat(r.cwnd),
        absl::StrCat(r.snd_wnd),
        absl::StrCat(r.rcv_wnd),
        absl::StrCat(r.bytes_acked),
        absl::StrCat(r.bytes_received),
        ms(r.last_data_sent_ms),
        ms(r.last_data_recv_ms)};
    if (with_identity) {
      for (const std::string* field : {&c.identity.kubernetes_namespace,
                                       &c.identity.pod, &c.identity.process}) {
        row.push_back(field->empty() ? "-" : absl::CHexEscape(*field));
      }
    }
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out.append(widths[i] - row[i].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

Response Endpoint::Handle(absl::string_view query_string) {
  const absl::StatusOr<Query> query = ParseQuery(query_string);
  if (!query.ok()) return Text(400, query.status().message());
  if (!identify_ &&
      (query->kubernetes_namespace.has_value() || query->pod.has_value())) {
    return Text(400,
                "namespace and pod filters need the pod identity of "
                "namespaces, which this exporter does not have");
  }
  if (!busy_.TryLock()) {
    return Text(429, "another /connections request is running; retry later");
  }
  Oldest oldest(query->limit);
  bpf::RecordReader<tcpq_connection> reader;
  // Ages as of the start of the walk, which takes milliseconds.
  const uint64_t now_ns = MonotonicNs();
  const Identify identify = identify_ ? identify_() : nullptr;
  tcpq_conn_filter filter = KernelFilter(*query, now_ns);
  absl::Status walked;
  if (!query->kubernetes_namespace.has_value() && !query->pod.has_value()) {
    // The since_ns of the `limit` oldest matches (a max-heap).
    std::vector<uint64_t> since;
    bpf::RecordReader<uint64_t> times;
    filter.since_only = 1;
    walked = walk_(filter, [&](std::span<const uint8_t> chunk) {
      times.Feed(chunk, [&](uint64_t t) {
        if (t == 0) return;  // unknown age: shown last
        if (since.size() < query->limit) {
          since.push_back(t);
          std::push_heap(since.begin(), since.end());
        } else if (t < since.front()) {
          std::pop_heap(since.begin(), since.end());
          since.back() = t;
          std::push_heap(since.begin(), since.end());
        }
      });
    });
    if (walked.ok()) walked = times.Finish();
    filter.since_only = 0;
    if (since.size() == query->limit &&
        (filter.max_since_ns == 0 || since.front() < filter.max_since_ns)) {
      filter.max_since_ns = since.front();
    }
  }
  if (walked.ok()) {
    walked = walk_(filter, [&](std::span<const uint8_t> chunk) {
      reader.Feed(chunk, [&](const tcpq_connection& raw) {
        Connection c{raw, SecondsInState(raw.socket.since_ns, now_ns), {}};
        if (identify) c.identity = identify(raw);
        if (Matches(*query, raw, c.seconds_in_state, c.identity)) {
          oldest.Add(std::move(c));
        }
      });
    });
  }
  if (walked.ok()) walked = reader.Finish();
  busy_.Unlock();
  if (!walked.ok()) {
    return Text(walked.code() == absl::StatusCode::kFailedPrecondition ||
                        walked.code() == absl::StatusCode::kUnavailable ||
                        walked.code() == absl::StatusCode::kPermissionDenied
                    ? 503
                    : 500,
                walked.message());
  }
  const std::vector<Connection> shown = oldest.Take();
  if (query->text) {
    return {200, "text/plain; charset=utf-8",
            RenderText(shown, identify_ != nullptr)};
  }
  return {200, "application/json", RenderJson(shown, identify_ != nullptr)};
}

}  // namespace tcpq::connections
