#include "bpf/mib_fields.h"

#include <bpf/btf.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tcpq::bpf {
namespace {

struct Alias {
  absl::string_view prefix;
  absl::string_view field;
  absl::string_view enumerator;  // after the prefix
};

// The fields net/ipv4/proc.c (snmp4_net_list, snmp4_tcp_list) names unlike
// their enumerators.
constexpr Alias kAliases[] = {
    {kLinuxMibPrefix, "TW", "TIMEWAITED"},
    {kLinuxMibPrefix, "TWRecycled", "TIMEWAITRECYCLED"},
    {kLinuxMibPrefix, "TWKilled", "TIMEWAITKILLED"},
    {kLinuxMibPrefix, "PAWSActive", "PAWSACTIVEREJECTED"},
    {kLinuxMibPrefix, "PAWSEstab", "PAWSESTABREJECTED"},
    {kLinuxMibPrefix, "PAWSTimewait", "PAWS_TW_REJECTED"},
    {kLinuxMibPrefix, "TCPSackShifted", "SACKSHIFTED"},
    {kLinuxMibPrefix, "TCPSackMerged", "SACKMERGED"},
    {kLinuxMibPrefix, "TCPSackShiftFallback", "SACKSHIFTFALLBACK"},
    {kLinuxMibPrefix, "IPReversePathFilter", "IPRPFILTER"},
    {kTcpMibPrefix, "InCsumErrors", "CSUMERRORS"},
};

}  // namespace

MibEnumerators MibEnumeratorsOf(const struct btf& vmlinux) {
  MibEnumerators enumerators;
  const unsigned types = btf__type_cnt(&vmlinux);
  for (unsigned id = 1; id < types; ++id) {
    const struct btf_type* type = btf__type_by_id(&vmlinux, id);
    if (!btf_is_enum(type)) continue;
    const struct btf_enum* values = btf_enum(type);
    for (int i = 0; i < btf_vlen(type); ++i) {
      const char* name = btf__name_by_offset(&vmlinux, values[i].name_off);
      if (name == nullptr) continue;
      const absl::string_view view(name);
      if (absl::StartsWith(view, kTcpMibPrefix) ||
          absl::StartsWith(view, kLinuxMibPrefix)) {
        enumerators.emplace(view, values[i].val);
      }
    }
  }
  return enumerators;
}

std::optional<int> MibFieldIndex(const MibEnumerators& enumerators,
                                 absl::string_view prefix,
                                 absl::string_view field) {
  for (const Alias& alias : kAliases) {
    if (alias.prefix == prefix && alias.field == field) {
      const auto it = enumerators.find(absl::StrCat(prefix, alias.enumerator));
      if (it == enumerators.end()) return std::nullopt;
      return it->second;
    }
  }
  const std::string wanted = absl::AsciiStrToUpper(field);
  for (const auto& [name, value] : enumerators) {
    if (!absl::StartsWith(name, prefix)) continue;
    if (absl::StrReplaceAll(absl::string_view(name).substr(prefix.size()),
                            {{"_", ""}}) == wanted) {
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace tcpq::bpf
