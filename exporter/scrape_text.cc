#include "exporter/scrape_text.h"

#include <zlib.h>

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "exporter/log.h"

namespace tcpq {

const absl::StatusOr<std::string>& ScrapeText::Gzip() const {
  absl::call_once(gzip_once_, [this] {
    gzip_ = GzipEncode(text_);
    gzip_ready_.store(true);
    // Once per collection at most: its requests get the text as it is.
    if (!gzip_.ok()) {
      log::Warn("scrape sent uncompressed",
                {{"error", std::string(gzip_.status().message())}});
    }
  });
  return gzip_;
}

absl::StatusOr<std::string> GzipEncode(absl::string_view data) {
  z_stream stream{};
  // 15 + 16: a 32 KiB window with a gzip header and trailer.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::ResourceExhaustedError(
        absl::StrCat("gzip: deflateInit2: ",
                     stream.msg != nullptr ? stream.msg : "out of memory"));
  }
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  // deflateBound leaves room for all of it: one call finishes.
  const int result = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("gzip: deflate returned ", result));
  }
  return out;
}

bool AcceptsGzip(const char* accept_encoding) {
  if (accept_encoding == nullptr) return false;
  // gzip by name wins over "*", whatever their order.
  std::optional<double> gzip_weight, any_weight;
  for (absl::string_view coding : absl::StrSplit(accept_encoding, ',')) {
    const std::vector<absl::string_view> parameters =
        absl::StrSplit(coding, ';');
    const absl::string_view name = absl::StripAsciiWhitespace(parameters[0]);
    std::optional<double>* weight = nullptr;
    if (absl::EqualsIgnoreCase(name, "gzip") ||
        absl::EqualsIgnoreCase(name, "x-gzip")) {
      weight = &gzip_weight;
    } else if (name == "*") {
      weight = &any_weight;
    } else {
      continue;
    }
    double q = 1;
    for (size_t i = 1; i < parameters.size(); ++i) {
      const absl::string_view parameter =
          absl::StripAsciiWhitespace(parameters[i]);
      if (absl::StartsWithIgnoreCase(parameter, "q=") &&
          !absl::SimpleAtod(parameter.substr(2), &q)) {
        q = 0;  // an unreadable weight accepts nothing
      }
    }
    *weight = q;
  }
  return gzip_weight.value_or(any_weight.value_or(0)) > 0;
}

}  // namespace tcpq
