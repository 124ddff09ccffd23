#include "exporter/log.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tcpq::log {
namespace {

std::atomic<Level> min_level{Level::kInfo};

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

// Quotes a value when logfmt needs it: empty, spaces, '=', quotes, controls.
void AppendValue(std::string& out, absl::string_view value) {
  bool needs_quotes = value.empty();
  for (char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
      needs_quotes = true;
  }
  if (!needs_quotes) {
    out.append(value.data(), value.size());
    return;
  }
  out.push_back('"');
  for (char c : value) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void SetMinLevel(Level level) { min_level = level; }

bool ParseLevel(absl::string_view text, Level& level) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l)) {
      level = l;
      return true;
    }
  }
  return false;
}

std::string Format(Level level, absl::string_view msg, const Fields& fields) {
  std::string line = absl::StrCat("level=", LevelName(level), " msg=");
  AppendValue(line, msg);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=");
    AppendValue(line, value);
  }
  return line;
}

void Log(Level level, absl::string_view msg, const Fields& fields) {
  if (level < min_level.load()) return;
  std::string line =
      absl::StrCat("ts=",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " ", Format(level, msg, fields), "\n");
  // A failed write to stderr has nowhere better to be reported.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace tcpq::log
