// libFuzzer target: the TIME_WAIT count read from /proc/net/sockstat.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "bpf/convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // A count comes only from a "tw" field of a "TCP: " line.
  if (tcpq::bpf::ParseSockstatTimeWait(text).has_value() &&
      !(absl::StrContains(text, "TCP: ") && absl::StrContains(text, "tw"))) {
    __builtin_trap();
  }
  return 0;
}
