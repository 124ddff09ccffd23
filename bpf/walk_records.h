#pragma once

// What the walks over the socket storage hand to user space: the aggregates
// of the sockets collector's pass, and the bytes the other walks write
// (tcpq.h: tcpq_connection records or since_ns values for GET /connections,
// tcpq_listener_record, tcpq_netns_record), cut into records. Pure, so the fuzz
// target and the tests feed it any bytes.

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bpf/tcpq.h"

namespace tcpq::bpf {

// What one pass of walk_sockets found (read and cleared from its maps).
struct WalkAggregates {
  // LISTEN sockets per local endpoint (more than one with SO_REUSEPORT).
  std::vector<std::pair<tcpq_walk_endpoint, uint64_t>> listeners;
  std::vector<std::pair<tcpq_walk_state_key, uint64_t>> oldest;  // since_ns
  std::vector<std::pair<tcpq_walk_endpoint, tcpq_walk_queue>> queued;
  std::vector<std::pair<tcpq_walk_peer_key, uint64_t>> peers;  // connections
  uint64_t sockets = 0;  // sockets the pass saw
  // How the kernel ran it: walks over the map (more than one when the first
  // was stopped, see Programs::WalkAggregated) and read()s that stopped one.
  int walks = 0;
  uint64_t stops = 0;
};

// A record the kernel wrote names an inet family and a TCP state the walk
// reports (not CLOSE); any other is skipped, never trusted.
inline bool IsValid(const tcpq_walk_socket& s) {
  return (s.family == AF_INET || s.family == AF_INET6) && s.state > 0 &&
         s.state < TCPQ_STATES && s.state != TCPQ_TCP_CLOSE;
}
inline bool IsValid(const tcpq_connection& c) { return IsValid(c.socket); }
inline bool IsValid(const tcpq_listener_record& l) {
  return l.family == AF_INET || l.family == AF_INET6;
}
inline bool IsValid(const tcpq_netns_record& m) {
  return m.netns != 0 && m.tcp_mibs <= TCPQ_TCP_MIB_SLOTS &&
         m.linux_mibs <= TCPQ_LINUX_MIB_SLOTS;
}

// The entries of a valid record's Tcp MIB (by TCP_MIB_*) or TcpExt MIB (by
// LINUX_MIB_*) that the running kernel has.
inline std::span<const __u64> TcpMibEntries(const tcpq_netns_record& m) {
  return std::span<const __u64>(m.tcp).first(m.tcp_mibs);
}
inline std::span<const __u64> LinuxMibEntries(const tcpq_netns_record& m) {
  return std::span<const __u64>(m.linux_mib).first(m.linux_mibs);
}
inline bool IsValid(uint64_t /*since_ns*/) { return true; }

// Cuts the output of one walk, read() by read(), into whole records of type
// Record: a record may straddle two reads. Invalid records are counted and
// skipped.
template <typename Record>
class RecordReader {
  static_assert(std::is_trivially_copyable_v<Record>);

 public:
  // Calls visit(const Record&) for every whole, valid record completed by
  // `bytes`.
  template <typename Visit>
  void Feed(std::span<const uint8_t> bytes, Visit&& visit) {
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), sizeof(Record) - filled_);
      std::memcpy(partial_ + filled_, bytes.data(), take);
      filled_ += take;
      bytes = bytes.subspan(take);
      if (filled_ < sizeof(Record)) break;
      filled_ = 0;
      Record record;
      std::memcpy(&record, partial_, sizeof(Record));
      if (IsValid(record)) {
        visit(record);
      } else {
        ++invalid_;
      }
    }
  }

  // OK when the walk ended on a record boundary and every record was valid.
  absl::Status Finish() const {
    if (filled_ != 0) {
      return absl::DataLossError(
          absl::StrCat("socket walk ended inside a record (", filled_, " of ",
                       sizeof(Record), " bytes)"));
    }
    if (invalid_ != 0) {
      return absl::DataLossError(
          absl::StrCat("socket walk wrote ", invalid_, " invalid records"));
    }
    return absl::OkStatus();
  }

 private:
  alignas(Record) uint8_t partial_[sizeof(Record)];
  size_t filled_ = 0;
  size_t invalid_ = 0;
};

}  // namespace tcpq::bpf
