#pragma once

// Parser for the kernel's MIB text files, /proc/net/netstat and /proc/net/snmp.
// Both list each section as two lines with the same prefix: field names, then
// values ("TcpExt: SyncookiesSent ...\nTcpExt: 0 ...").

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcpq::procfs {

struct MibSection {
  std::string name;                                    // "TcpExt", "Tcp", ...
  std::vector<std::pair<std::string, double>> fields;  // in kernel order

  bool operator==(const MibSection&) const = default;
};

// Parses the whole file. Any malformed section (odd line count, mismatched
// prefixes, name and value counts that differ, a value that is not an
// integer) is an error naming the line; nothing partial is returned, so a
// scrape never exports a half-parsed, misaligned set.
absl::StatusOr<std::vector<MibSection>> ParseMibText(absl::string_view text);

// Section `name` of the text of /proc/net/<file> ("netstat" or "snmp"); an
// empty section when the kernel has none (absent, not zero). The wanted
// section is checked as ParseMibText checks every one; the others only for
// alignment (each header followed by values of the same section), not
// tokenized. A malformed file is DataLoss naming it.
absl::StatusOr<MibSection> ParseMibSection(absl::string_view text,
                                           absl::string_view file,
                                           absl::string_view name);

}  // namespace tcpq::procfs
