#pragma once

// Which entry of a tcpq_netns_record (read_netns) a field of /proc/net/snmp's
// Tcp line or /proc/net/netstat's TcpExt line is. The kernel prints entry
// TCP_MIB_ACTIVEOPENS as "ActiveOpens" and LINUX_MIB_LISTENOVERFLOWS as
// "ListenOverflows": the enumerators' values come from the running kernel's
// BTF, their names from the field names by a fixed rule and a few aliases.

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

struct btf;

namespace tcpq::bpf {

// The MIBs of a tcpq_netns_record: the enumerators' prefix.
inline constexpr absl::string_view kTcpMibPrefix = "TCP_MIB_";
inline constexpr absl::string_view kLinuxMibPrefix = "LINUX_MIB_";

// Enumerator name -> value, e.g. "LINUX_MIB_LISTENOVERFLOWS" -> 20.
using MibEnumerators = absl::flat_hash_map<std::string, int>;

// Every TCP_MIB_* and LINUX_MIB_* enumerator of a kernel's BTF.
MibEnumerators MibEnumeratorsOf(const struct btf& vmlinux);

// The index of `field` (as the file prints it) among the enumerators of
// `prefix`, or std::nullopt when the kernel has no such entry: the field
// upper-cased is the enumerator's name after the prefix without its
// underscores ("PAWSOldAck": LINUX_MIB_PAWS_OLD_ACK), or one of the names
// the kernel's tables give otherwise ("TW": LINUX_MIB_TIMEWAITED).
std::optional<int> MibFieldIndex(const MibEnumerators& enumerators,
                                 absl::string_view prefix,
                                 absl::string_view field);

}  // namespace tcpq::bpf
