// libFuzzer target: the query string of GET /connections (what any HTTP
// client sends). A parsed query is always within its documented bounds.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "exporter/connections.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const auto query = tcpq::connections::ParseQuery(text);
  if (query.ok()) {
    if (query->limit < 1 || query->limit > tcpq::connections::kMaxLimit ||
        query->min_age < 0 || (query->port.has_value() && *query->port == 0)) {
      __builtin_trap();
    }
  } else if (query.status().message().find('\n') != absl::string_view::npos) {
    __builtin_trap();  // the 400 reason is one line
  }
  return 0;
}
