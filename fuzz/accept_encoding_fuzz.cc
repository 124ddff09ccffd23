// libFuzzer target: the Accept-Encoding header of GET /metrics (what any HTTP
// client sends), and the gzip encoding of what it then gets.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "exporter/scrape_text.h"
#include "procfs/job_thread.h"

namespace {

// `gzip` inflated (at most `size` + 1 bytes of it), if it is exactly one
// whole gzip member (its CRC-32 and length checked).
std::optional<std::string> Gunzip(const std::string& gzip, size_t size) {
  std::string inflated(size + 1, '\0');
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) __builtin_trap();
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  stream.avail_in = static_cast<uInt>(gzip.size());
  stream.next_out = reinterpret_cast<Bytef*>(inflated.data());
  stream.avail_out = static_cast<uInt>(inflated.size());
  const int result = inflate(&stream, Z_FINISH);
  inflated.resize(stream.total_out);
  const bool whole = result == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) return std::nullopt;
  return inflated;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string header(reinterpret_cast<const char*>(data), size);
  // An empty list element changes nothing.
  if (tcpq::AcceptsGzip(header.c_str()) !=
      tcpq::AcceptsGzip((header + ",").c_str())) {
    __builtin_trap();
  }
  // Any bytes inflate back to themselves, compressed on one thread or in
  // two halves on two.
  static tcpq::procfs::JobThread helper;
  for (tcpq::procfs::JobThread* second_half :
       {static_cast<tcpq::procfs::JobThread*>(nullptr), &helper}) {
    const absl::StatusOr<std::string> gzip =
        tcpq::GzipEncode(header, second_half);
    if (!gzip.ok() || Gunzip(*gzip, header.size()) != header) __builtin_trap();
  }
  return 0;
}
