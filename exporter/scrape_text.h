#pragma once

#include <atomic>
#include <string>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "procfs/job_thread.h"

namespace tcpq {

// One collection's exposition text, shared by every request that waited for
// it, with its gzip encoding made once, by the first request that asks for
// it: a burst of Prometheus-like scrapers (who all send Accept-Encoding:
// gzip) costs one compression, and sends about a sixth of the bytes.
class ScrapeText {
 public:
  explicit ScrapeText(std::string text) : text_(std::move(text)) {}
  ScrapeText(const ScrapeText&) = delete;
  ScrapeText& operator=(const ScrapeText&) = delete;

  const std::string& text() const { return text_; }
  // The text gzip-encoded; callers that come while the first compresses wait
  // for it. An error (zlib out of memory) is kept, and callers send the text.
  // `helper`: a thread of the caller's that takes half of a large text (see
  // GzipEncode); a small one is not worth the handover.
  const absl::StatusOr<std::string>& Gzip(
      procfs::JobThread* helper = nullptr) const;
  bool GzipReadyForTest() const { return gzip_ready_.load(); }

 private:
  const std::string text_;
  mutable absl::once_flag gzip_once_;
  mutable absl::StatusOr<std::string> gzip_;
  mutable std::atomic<bool> gzip_ready_{false};
};

// `data` as one gzip member (RFC 1952), at zlib's fastest level: the text
// compresses about sixfold there and twice as fast as at the default level.
// With `helper`, the second half is compressed on it while the caller
// compresses the first, as pigz does: 0.6 to 0.7 of the wait for 256 KiB or
// more, the size within 4% (the second half starts without the first as its
// dictionary).
absl::StatusOr<std::string> GzipEncode(absl::string_view data,
                                       procfs::JobThread* helper = nullptr);

// Whether an Accept-Encoding header value (RFC 9110, 12.5.3) accepts gzip:
// "gzip" or "x-gzip" or "*" with a weight above 0. Null: no such header.
bool AcceptsGzip(const char* accept_encoding);

}  // namespace tcpq
