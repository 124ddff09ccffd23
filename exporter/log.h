#pragma once

// logfmt lines on stderr: ts=... level=info msg="..." key=value

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcpq::log {

enum class Level { kDebug, kInfo, kWarn, kError };

using Fields = std::vector<std::pair<absl::string_view, std::string>>;

void SetMinLevel(Level level);
bool ParseLevel(absl::string_view text, Level& level);

// One complete line per call, written with a single write(2) so concurrent
// lines never interleave.
void Log(Level level, absl::string_view msg, const Fields& fields = {});

// The logfmt form of one line, without the timestamp (for tests).
std::string Format(Level level, absl::string_view msg, const Fields& fields);

inline void Debug(absl::string_view msg, const Fields& f = {}) {
  Log(Level::kDebug, msg, f);
}
inline void Info(absl::string_view msg, const Fields& f = {}) {
  Log(Level::kInfo, msg, f);
}
inline void Warn(absl::string_view msg, const Fields& f = {}) {
  Log(Level::kWarn, msg, f);
}
inline void Error(absl::string_view msg, const Fields& f = {}) {
  Log(Level::kError, msg, f);
}

}  // namespace tcpq::log
