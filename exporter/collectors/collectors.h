#pragma once

// Factories of the collectors, one per file in this directory.

#include <memory>

#include "absl/status/statusor.h"
#include "exporter/collector.h"

namespace tcpq {

absl::StatusOr<std::unique_ptr<Collector>> NewBpfCollector();
absl::StatusOr<std::unique_ptr<Collector>> NewNetstatCollector();
absl::StatusOr<std::unique_ptr<Collector>> NewSnmpCollector();
absl::StatusOr<std::unique_ptr<Collector>> NewSysctlCollector();
absl::StatusOr<std::unique_ptr<Collector>> NewSockdiagCollector();
absl::StatusOr<std::unique_ptr<Collector>> NewSynqueueCollector();

}  // namespace tcpq
