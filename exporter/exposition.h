#pragma once

// The Prometheus text exposition format (0.0.4), written straight into one
// string. prometheus-cpp's TextSerializer goes through an ostream and takes
// 7.9 to 9.4 ms for the ~11k series of 100 namespaces; this writes the same
// bytes (tests/exposition_test.cc compares the two) in 1.7 to 2.5 ms
// (build/bench/exposition_bench).

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "procfs/job_thread.h"
#include "prometheus/metric_family.h"

namespace tcpq {

// The exposition of `families`, in their order. Numbers are written as
// prometheus-cpp writes them (16 significant digits, "Nan", "+Inf", "-Inf");
// a label value's backslash, double quote and newline are escaped as the
// format requires (\\, \", \n).
std::string SerializeText(std::span<const prometheus::MetricFamily> families);

// SerializeText on two threads for a large text (kSplitFrom or more, as
// estimated): the families are cut where about half of the text is written
// before the cut, and this object's thread writes the second half while the
// caller writes the first; the bytes are the same. At 100 namespaces (~16k
// series, 811 KB) that takes 0.66 to 1.05 of one thread's time on the 2-vCPU
// development VM, as its other vCPU is free or not. A smaller text is
// written on the caller's thread alone: below about 270 KB two threads never
// won there, and up to 512 KiB seldom (build/bench/exposition_bench). One
// call at a time.
class TwoThreadSerializer {
 public:
  static constexpr size_t kSplitFrom = 512 * 1024;
  // `split_from`: the estimated text size from which two threads write it
  // (0: always; benchmarks and tests compare).
  explicit TwoThreadSerializer(size_t split_from = kSplitFrom)
      : split_from_(split_from) {}

  std::string Serialize(const std::vector<prometheus::MetricFamily>& families);
  // How many calls wrote on two threads.
  int SplitWritesForTest() const { return split_writes_; }

 private:
  const size_t split_from_;
  int split_writes_ = 0;
  procfs::JobThread helper_;
};

}  // namespace tcpq
