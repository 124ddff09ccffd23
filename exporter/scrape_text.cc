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

namespace {

// Texts from this size on are compressed in two halves on two threads
// (ScrapeText::Gzip): below it, handing half to another thread costs about
// what it saves (bench/exposition_bench --benchmark_filter=Gzip).
constexpr size_t kTwoThreadsFrom = 256 * 1024;

// The part of a gzip member's body made from one piece of the data: its raw
// deflate stream and the piece's CRC-32.
struct DeflatedPiece {
  absl::Status status;
  std::string deflated;
  uLong crc = 0;
};

// `last`: the stream ends the member (Z_FINISH); else it ends with a sync
// flush, on a byte boundary, so that the next piece's stream can follow.
DeflatedPiece Deflate(absl::string_view data, bool last) {
  DeflatedPiece piece;
  piece.crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()),
                    static_cast<uInt>(data.size()));
  z_stream stream{};
  // -15: a raw stream, 32 KiB window; the gzip frame is written once around
  // all pieces (GzipEncode).
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, -15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    piece.status = absl::ResourceExhaustedError(
        absl::StrCat("gzip: deflateInit2: ",
                     stream.msg != nullptr ? stream.msg : "out of memory"));
    return piece;
  }
  // deflateBound counts a Z_FINISH; a sync flush adds an empty block of at
  // most 5 bytes (zlib.h), so one call does it all.
  piece.deflated.resize(deflateBound(&stream, data.size()) + 8);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(piece.deflated.data());
  stream.avail_out = static_cast<uInt>(piece.deflated.size());
  const int result = deflate(&stream, last ? Z_FINISH : Z_SYNC_FLUSH);
  piece.deflated.resize(stream.total_out);
  const bool done =
      last ? result == Z_STREAM_END
           : result == Z_OK && stream.avail_in == 0 && stream.avail_out > 0;
  deflateEnd(&stream);
  if (!done) {
    piece.status =
        absl::InternalError(absl::StrCat("gzip: deflate returned ", result));
  }
  return piece;
}

void AppendLittleEndian32(std::string& out, uLong value) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

const absl::StatusOr<std::string>& ScrapeText::Gzip(
    procfs::JobThread* helper) const {
  absl::call_once(gzip_once_, [this, helper] {
    gzip_ =
        GzipEncode(text_, text_.size() >= kTwoThreadsFrom ? helper : nullptr);
    gzip_ready_.store(true);
    // Once per collection at most: its requests get the text as it is.
    if (!gzip_.ok()) {
      log::Warn("scrape sent uncompressed",
                {{"error", std::string(gzip_.status().message())}});
    }
  });
  return gzip_;
}

absl::StatusOr<std::string> GzipEncode(absl::string_view data,
                                       procfs::JobThread* helper) {
  const absl::string_view first =
      helper != nullptr ? data.substr(0, data.size() / 2) : data;
  const absl::string_view second = data.substr(first.size());
  DeflatedPiece tail;
  if (helper != nullptr) {
    helper->Start([&tail, second] { tail = Deflate(second, /*last=*/true); });
  }
  DeflatedPiece head = Deflate(first, /*last=*/helper == nullptr);
  if (helper != nullptr) helper->Wait();
  if (!head.status.ok()) return head.status;
  if (!tail.status.ok()) return tail.status;
  // RFC 1952: magic, deflate, no flags, no time, "fastest", Unix.
  std::string out("\x1f\x8b\x08\0\0\0\0\0\x04\x03", 10);
  out.reserve(out.size() + head.deflated.size() + tail.deflated.size() + 8);
  out += head.deflated;
  out += tail.deflated;
  AppendLittleEndian32(out, crc32_combine(head.crc, tail.crc,
                                          static_cast<z_off_t>(second.size())));
  AppendLittleEndian32(out, static_cast<uLong>(data.size()));  // mod 2^32
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
