#pragma once

// GET /connections (--web.enable-connections): the live TCP connections of
// every namespace, from one walk over the socket storage of the BPF
// programs (bpf/tcpq.bpf.c walk_connections), filtered, oldest first, as
// JSON or an aligned text table. The pieces are pure functions (parse the
// query, filter, keep the oldest, render) so tests and the fuzz target run
// them on any input; Endpoint ties them to a walk.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "bpf/tcpq.h"

namespace tcpq::connections {

inline constexpr size_t kDefaultLimit = 100;
inline constexpr size_t kMaxLimit = 10000;

// An IP address of a filter, as raw bytes.
struct Address {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
};

struct Query {
  std::optional<uint32_t> netns;
  std::optional<std::string> kubernetes_namespace;  // parameter `namespace`
  std::optional<std::string> pod;
  std::optional<uint16_t> port;  // local port
  std::optional<Address> peer;
  uint32_t states = 0;  // bit 1 << TCP state; 0: any
  double min_age = 0;   // seconds in state
  size_t limit = kDefaultLimit;
  bool text = false;  // format=text
};

// Parses a URL query string ("port=80&state=established"). Parameters:
// netns, namespace, pod, port, peer (an IPv4 or IPv6 address; an IPv4
// address also matches its v4-mapped IPv6 form and back), state (a TCP
// state name as in tcpq_sockets, or several separated by commas), min_age
// (seconds, a decimal number), limit (1-10000), format (json or text).
// Anything else, a value that does not parse, or a parameter given twice is
// an InvalidArgument error whose message is one line naming the problem.
absl::StatusOr<Query> ParseQuery(absl::string_view query_string);

// Who a connection belongs to. Empty fields are unknown.
struct Identity {
  std::string kubernetes_namespace;
  std::string pod;
  std::string process;
};
// Names the owner of a connection; null: identity is not available.
using Identify = std::function<Identity(const tcpq_connection&)>;
// Makes the Identify of one request (a snapshot of what is known then).
using IdentifyFactory = std::function<Identify()>;

// One connection as shown.
struct Connection {
  tcpq_connection raw;
  std::optional<double> seconds_in_state;  // nullopt: unknown
  Identity identity;
};

// Seconds since `since_ns` (0: unknown) at `now_ns`.
std::optional<double> SecondsInState(uint64_t since_ns, uint64_t now_ns);

// The filters of `query` the BPF program applies itself (all but namespace
// and pod), ages as of `now_ns` (CLOCK_MONOTONIC).
tcpq_conn_filter KernelFilter(const Query& query, uint64_t now_ns);

// Whether a connection passes the filters of `query` (identity: namespace,
// pod; the rest from the record).
bool Matches(const Query& query, const tcpq_connection& c,
             std::optional<double> seconds_in_state, const Identity& identity);

// Keeps the `limit` oldest connections added (by seconds in state, unknown
// last, then by cookie), at most 2 * limit at any time, and each socket once.
class Oldest {
 public:
  explicit Oldest(size_t limit) : limit_(limit) {}
  void Add(Connection connection);
  std::vector<Connection> Take();  // oldest first

 private:
  void Compact();
  size_t limit_;
  std::vector<Connection> kept_;
};

// The body of the answer: JSON ({"connections": [...]}) or an aligned table.
// `with_identity`: show namespace, pod and process.
std::string RenderJson(const std::vector<Connection>& connections,
                       bool with_identity);
std::string RenderText(const std::vector<Connection>& connections,
                       bool with_identity);

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
};

// The endpoint: one request at a time (another gets 429 at once), memory
// bounded by the limit, on the HTTP thread that asks (never on the
// scraper's threads nor under its lock). Two passes when the kernel can
// apply every filter: the first writes 8 bytes per match to find the age of
// the limit-th oldest, the second full records of those only (a record per
// socket would make the kernel's walk restart once per 8 pages written).
class Endpoint {
 public:
  // Runs one walk_connections pass with a filter, handing its bytes to the
  // callback (bpf::Programs::WalkConnections).
  using Walk = std::function<absl::Status(
      const tcpq_conn_filter&,
      absl::FunctionRef<void(std::span<const uint8_t>)>)>;

  // `identify`: null when pod identity is not available at all.
  Endpoint(Walk walk, IdentifyFactory identify)
      : walk_(std::move(walk)), identify_(std::move(identify)) {}

  Response Handle(absl::string_view query_string);

 private:
  const Walk walk_;
  const IdentifyFactory identify_;
  absl::Mutex busy_;
};

}  // namespace tcpq::connections
