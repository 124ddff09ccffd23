// libFuzzer target: the parsers of kubelet log directory and file names,
// which come from a directory any pod's log path can influence.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "procfs/kubelet_logs.h"

namespace {

// What a label value may hold when a name was accepted: DNS characters only,
// so nothing that needs escaping ever reaches the exposition.
bool IsDnsText(absl::string_view s) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.'))
      return false;
  }
  return !s.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view name(reinterpret_cast<const char*>(data), size);
  if (auto pod = tcpq::procfs::ParsePodLogDir(name)) {
    if (!IsDnsText(pod->namespace_name) || !IsDnsText(pod->pod) ||
        !IsDnsText(pod->uid) || pod->namespace_name.size() > 63 ||
        pod->pod.size() > 253)
      __builtin_trap();
  }
  if (auto log = tcpq::procfs::ParseContainerLogName(name)) {
    if (!IsDnsText(log->pod) || !IsDnsText(log->namespace_name) ||
        !IsDnsText(log->container) || log->container_id.size() != 64 ||
        !absl::EndsWith(name, ".log"))
      __builtin_trap();
  }
  return 0;
}
