// libFuzzer target: the identity parser of /proc/<pid>/cgroup.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "procfs/cgroup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto identity = tcpq::procfs::ParseCgroup(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  // Whatever it returns is either empty or well-formed.
  if (!identity.pod_uid.empty() && identity.pod_uid.size() != 36 &&
      identity.pod_uid.size() != 32)
    __builtin_trap();
  if (!identity.container_id.empty() && identity.container_id.size() != 64)
    __builtin_trap();
  if (!identity.unit.empty() && (!absl::EndsWith(identity.unit, ".service") ||
                                 absl::StrContains(identity.unit, '/') ||
                                 absl::StrContains(identity.unit, '\n')))
    __builtin_trap();
  return 0;
}
