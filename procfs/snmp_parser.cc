#include "procfs/snmp_parser.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tcpq::procfs {
namespace {

// Splits "Prefix: a b c" into the prefix and the space-separated tokens.
absl::Status SplitLine(absl::string_view line, size_t line_no,
                       absl::string_view& prefix,
                       std::vector<absl::string_view>& tokens) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_no, ": no \"Section:\" prefix"));
  }
  prefix = line.substr(0, colon);
  tokens = absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty());
  return absl::OkStatus();
}

absl::StatusOr<double> ParseValue(absl::string_view token, size_t line_no) {
  // Counters are u64 in the kernel, a few fields (Tcp MaxConn) are signed.
  int64_t signed_value;
  if (absl::SimpleAtoi(token, &signed_value)) {
    return static_cast<double>(signed_value);
  }
  uint64_t unsigned_value;
  if (absl::SimpleAtoi(token, &unsigned_value)) {
    return static_cast<double>(unsigned_value);
  }
  return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": value \"",
                                                 token.substr(0, 32),
                                                 "\" is not an integer"));
}

}  // namespace

namespace {

// The lines of a MIB file, header and values alternating.
absl::StatusOr<std::vector<absl::string_view>> MibLines(
    absl::string_view text) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(text, '\n', absl::SkipWhitespace());
  if (lines.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "odd number of lines (", lines.size(), "): a header without values"));
  }
  return lines;
}

// "Prefix" of "Prefix: ...", or "" without a colon.
absl::string_view PrefixOf(absl::string_view line) {
  const size_t colon = line.find(':');
  return colon == absl::string_view::npos ? "" : line.substr(0, colon);
}

// The section of the header at lines[i] and the values at lines[i + 1].
absl::StatusOr<MibSection> ParseSection(
    const std::vector<absl::string_view>& lines, size_t i) {
  absl::string_view name_prefix, value_prefix;
  std::vector<absl::string_view> names, values;
  if (auto s = SplitLine(lines[i], i + 1, name_prefix, names); !s.ok()) {
    return s;
  }
  if (auto s = SplitLine(lines[i + 1], i + 2, value_prefix, values); !s.ok()) {
    return s;
  }
  if (name_prefix != value_prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", i + 2, ": section \"", value_prefix,
                     "\" follows header of \"", name_prefix, "\""));
  }
  if (names.size() != values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", i + 2, ": section \"", name_prefix, "\" has ",
                     names.size(), " names but ", values.size(), " values"));
  }
  MibSection section{std::string(name_prefix), {}};
  section.fields.reserve(names.size());
  for (size_t f = 0; f < names.size(); ++f) {
    absl::StatusOr<double> value = ParseValue(values[f], i + 2);
    if (!value.ok()) return value.status();
    section.fields.emplace_back(std::string(names[f]), *value);
  }
  return section;
}

}  // namespace

absl::StatusOr<std::vector<MibSection>> ParseMibText(absl::string_view text) {
  absl::StatusOr<std::vector<absl::string_view>> lines = MibLines(text);
  if (!lines.ok()) return lines.status();
  std::vector<MibSection> sections;
  for (size_t i = 0; i < lines->size(); i += 2) {
    absl::StatusOr<MibSection> section = ParseSection(*lines, i);
    if (!section.ok()) return section.status();
    sections.push_back(*std::move(section));
  }
  return sections;
}

absl::StatusOr<MibSection> ParseMibSection(absl::string_view text,
                                           absl::string_view file,
                                           absl::string_view name) {
  // Only the wanted section is tokenized (netstat's TcpExt is about half of
  // the file, read for every namespace on every scrape); the others are
  // checked for alignment only, so a file whose sections slipped by a line
  // is still an error.
  absl::StatusOr<std::vector<absl::string_view>> lines = MibLines(text);
  absl::StatusOr<MibSection> found = MibSection{std::string(name), {}};
  if (!lines.ok()) found = lines.status();
  bool seen = false;  // the first section of that name counts
  for (size_t i = 0; found.ok() && lines.ok() && i < lines->size(); i += 2) {
    const absl::string_view prefix = PrefixOf((*lines)[i]);
    if ((prefix == name && !seen) || prefix.empty() ||
        prefix != PrefixOf((*lines)[i + 1])) {
      // The wanted section; or a misaligned one, which ParseSection then
      // reports.
      found = ParseSection(*lines, i);
      seen = seen || prefix == name;
    }
  }
  if (!found.ok()) {
    return absl::DataLossError(
        absl::StrCat("/proc/net/", file, ": ", found.status().message()));
  }
  return found;
}

}  // namespace tcpq::procfs
