// libFuzzer target: the Accept-Encoding header of GET /metrics (what any HTTP
// client sends), and the gzip encoding of what it then gets.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "exporter/scrape_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string header(reinterpret_cast<const char*>(data), size);
  // An empty list element changes nothing.
  if (tcpq::AcceptsGzip(header.c_str()) !=
      tcpq::AcceptsGzip((header + ",").c_str())) {
    __builtin_trap();
  }
  // Any bytes inflate back to themselves.
  const absl::StatusOr<std::string> gzip = tcpq::GzipEncode(header);
  if (!gzip.ok()) __builtin_trap();
  std::string inflated(header.size() + 1, '\0');
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) __builtin_trap();
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip->data()));
  stream.avail_in = static_cast<uInt>(gzip->size());
  stream.next_out = reinterpret_cast<Bytef*>(inflated.data());
  stream.avail_out = static_cast<uInt>(inflated.size());
  const int result = inflate(&stream, Z_FINISH);
  inflated.resize(stream.total_out);
  inflateEnd(&stream);
  if (result != Z_STREAM_END || inflated != header) __builtin_trap();
  return 0;
}
