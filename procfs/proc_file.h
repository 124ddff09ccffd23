#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tcpq::procfs {

// Reads a whole (pseudo-)file. /proc files report size 0, so this reads until
// EOF. A missing file is NotFound, so callers can treat "the kernel lacks it"
// differently from a real failure.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace tcpq::procfs
