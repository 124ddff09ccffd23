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

// SerializeText on two threads for a large text (512 KiB or more, as
// estimated): the families are cut where about half of the text is written
// before the cut, and this object's thread writes the second half while the
// caller writes the first. At 100 namespaces (~16k series) the text is
// written in about half the time; the bytes are the same. A smaller text is
// written on the caller's thread alone: handing half of it over costs about
// what it saves. One call at a time.
class TwoThreadSerializer {
 public:
  std::string Serialize(const std::vector<prometheus::MetricFamily>& families);
  // How many calls wrote on two threads.
  int SplitWritesForTest() const { return split_writes_; }

 private:
  int split_writes_ = 0;
  procfs::JobThread helper_;
};

}  // namespace tcpq
