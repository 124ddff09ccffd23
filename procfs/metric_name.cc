#include "procfs/metric_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace tcpq::procfs {

std::string MibFieldToSnakeCase(absl::string_view field) {
  if (field.size() > 3 && absl::StartsWith(field, "TCP"))
    field.remove_prefix(3);
  std::string out;
  out.reserve(field.size() + 8);
  for (size_t i = 0; i < field.size(); ++i) {
    const char c = field[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      out.push_back('_');
      continue;
    }
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) && i > 0) {
      const char prev = field[i - 1];
      // An acronym's plural "s" ("RTOs") belongs to the acronym.
      const bool plural_s =
          i + 1 < field.size() && field[i + 1] == 's' &&
          (i + 2 == field.size() ||
           absl::ascii_isupper(static_cast<unsigned char>(field[i + 2])));
      const bool next_lower =
          i + 1 < field.size() && !plural_s &&
          absl::ascii_islower(static_cast<unsigned char>(field[i + 1]));
      // A word starts at an upper-case letter after a lower-case letter or a
      // digit ("listenOverflows"), or at the last capital of an acronym that
      // is followed by lower case ("DSACKOld" -> "dsack_old").
      if (absl::ascii_islower(static_cast<unsigned char>(prev)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(prev)) ||
          (absl::ascii_isupper(static_cast<unsigned char>(prev)) &&
           next_lower)) {
        out.push_back('_');
      }
    }
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace tcpq::procfs
