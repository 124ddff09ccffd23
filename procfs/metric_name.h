#pragma once

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace tcpq::procfs {

// The naming rule for kernel MIB fields (documented in the README): strip a
// leading "TCP", then CamelCase to snake_case, keeping acronyms together:
//   ListenOverflows -> listen_overflows, TCPReqQFullDrop -> req_q_full_drop,
//   TCPDSACKOldSent -> dsack_old_sent, TCPSpuriousRTOs -> spurious_rtos (an
// acronym keeps its plural "s").
// Characters that are not [A-Za-z0-9] become '_'.
std::string MibFieldToSnakeCase(absl::string_view field);

}  // namespace tcpq::procfs
