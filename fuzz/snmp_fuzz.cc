// libFuzzer target: the /proc/net/netstat and /proc/net/snmp parser, and the
// metric naming applied to whatever field names it returns.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "procfs/metric_name.h"
#include "procfs/snmp_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // What the collectors read: one section, the others only checked for
  // alignment. Whatever the whole-file parser accepts, this accepts too,
  // with the same fields.
  auto tcp_ext = tcpq::procfs::ParseMibSection(text, "netstat", "TcpExt");
  auto sections = tcpq::procfs::ParseMibText(text);
  if (sections.ok()) {
    if (!tcp_ext.ok()) __builtin_trap();
    for (const auto& section : *sections) {
      if (section.name != "TcpExt") continue;
      if (section.fields != tcp_ext->fields) __builtin_trap();
      break;  // the first one is what both return
    }
  }
  if (!sections.ok()) return 0;
  for (const auto& section : *sections) {
    for (const auto& [field, value] : section.fields) {
      const std::string name = tcpq::procfs::MibFieldToSnakeCase(field);
      // The rule only ever emits [a-z0-9_].
      for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
          __builtin_trap();
      }
    }
  }
  return 0;
}
