#pragma once

#include "exporter/collector.h"
#include "procfs/inet_diag.h"
#include "procfs/listeners.h"

namespace tcpq {

// Every LISTEN socket of `sock_diag`'s namespace, IPv4 and IPv6, grouped by
// address and port. A LISTEN-only dump skips the established
// hash, so its cost follows the number of listeners, not of connections.
absl::StatusOr<procfs::Listeners> DumpListeners(procfs::SockDiag& sock_diag);

// Labels of one listener series.
Labels ListenerLabels(const std::string& netns, const procfs::ListenerKey& key);

}  // namespace tcpq
