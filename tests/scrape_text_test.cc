#include "exporter/scrape_text.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "procfs/job_thread.h"

namespace tcpq {
namespace {

// What a client does with the reply: inflate one gzip member.
std::string Gunzip(const std::string& gzip) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  stream.avail_in = static_cast<uInt>(gzip.size());
  std::string out;
  char buffer[4096];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  }
  EXPECT_EQ(result, Z_STREAM_END);
  EXPECT_EQ(stream.avail_in, 0u);  // nothing after the trailer
  inflateEnd(&stream);
  return out;
}

std::string Exposition(int series) {
  std::string text = "# HELP tcpq_x X.\n# TYPE tcpq_x gauge\n";
  for (int i = 0; i < series; ++i) {
    absl::StrAppend(&text, "tcpq_x{netns=\"4026531", 800 + i, "\"} ", i * 7,
                    "\n");
  }
  return text;
}

TEST(GzipEncodeTest, InflatesToTheText) {
  procfs::JobThread helper;
  for (const std::string& text :
       {std::string(), std::string("x"), Exposition(1), Exposition(2000),
        std::string(70000, '\0')}) {
    // On one thread, and in two halves on two: one member either way, whose
    // CRC-32 and length (checked by inflate) are those of the whole text.
    for (procfs::JobThread* second_half :
         {static_cast<procfs::JobThread*>(nullptr), &helper}) {
      const absl::StatusOr<std::string> gzip = GzipEncode(text, second_half);
      ASSERT_TRUE(gzip.ok()) << gzip.status();
      // The gzip magic and deflate method (RFC 1952, 2.3.1).
      ASSERT_GE(gzip->size(), 18u);
      EXPECT_EQ(gzip->substr(0, 3), "\x1f\x8b\x08");
      EXPECT_EQ(Gunzip(*gzip), text)
          << text.size() << " bytes, helper " << (second_half != nullptr);
    }
  }
  // An exposition's repeated names and labels compress well.
  const std::string text = Exposition(2000);
  EXPECT_LT(GzipEncode(text)->size() * 5, text.size());
}

TEST(ScrapeTextTest, CompressesOnceAndKeepsTheText) {
  const ScrapeText scrape(Exposition(100));
  EXPECT_EQ(scrape.text(), Exposition(100));
  const absl::StatusOr<std::string>& first = scrape.Gzip();
  ASSERT_TRUE(first.ok());
  // The same encoding, not a second one.
  EXPECT_EQ(&scrape.Gzip(), &first);
  EXPECT_EQ(Gunzip(*first), scrape.text());
}

TEST(ScrapeTextTest, HandsHalfOfALargeTextToTheHelper) {
  procfs::JobThread helper;
  // 40 bytes a series: 256 KiB and more is large.
  const std::string large_text = Exposition(8000);
  ASSERT_GE(large_text.size(), 256u * 1024);
  const ScrapeText large(large_text);
  // zlib is deterministic: the two-thread encoding, not the one-thread one
  // (which differ in the flush between the halves).
  EXPECT_EQ(*large.Gzip(&helper), *GzipEncode(large_text, &helper));
  EXPECT_NE(*large.Gzip(&helper), *GzipEncode(large_text));
  EXPECT_EQ(Gunzip(*large.Gzip()), large_text);
  const ScrapeText small(Exposition(2000));
  EXPECT_EQ(*small.Gzip(&helper), *GzipEncode(Exposition(2000)));
}

TEST(AcceptsGzipTest, ReadsAcceptEncodingAsRfc9110Says) {
  struct Case {
    const char* header;
    bool gzip;
  };
  for (const Case& c : std::initializer_list<Case>{
           {nullptr, false},
           {"", false},
           {"gzip", true},  // Prometheus
           {"GZIP", true},
           {"x-gzip", true},
           {"gzip, deflate, br", true},  // curl --compressed, browsers
           {"deflate, gzip;q=0.5", true},
           {" gzip ; q=1.0 ", true},
           {"identity", false},
           {"deflate, br", false},
           {"gzip;q=0", false},
           {"gzip;q=0.000", false},
           {"gzip;q=nope", false},  // an unreadable weight accepts nothing
           {"*", true},
           {"*;q=0", false},
           {"gzip;q=0, *", false},  // gzip by name wins over *
           {"*, gzip;q=0", false},
           {"*;q=0, gzip", true},
           {"gzipx", false},
           {",,,", false},
       }) {
    EXPECT_EQ(AcceptsGzip(c.header), c.gzip)
        << (c.header != nullptr ? c.header : "(no header)");
  }
}

}  // namespace
}  // namespace tcpq
