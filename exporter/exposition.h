#pragma once

// The Prometheus text exposition format (0.0.4), written straight into one
// string. prometheus-cpp's TextSerializer goes through an ostream and takes
// 7.9 to 9.4 ms for the ~11k series of 100 namespaces; this writes the same
// bytes (tests/exposition_test.cc compares the two) in 1.7 to 2.5 ms
// (build/bench/exposition_bench).

#include <cstddef>
#include <string>
#include <vector>

#include "prometheus/metric_family.h"

namespace tcpq {

// The exposition of `families`, in their order. Numbers are written as
// prometheus-cpp writes them (16 significant digits, "Nan", "+Inf", "-Inf");
// a label value's backslash, double quote and newline are escaped as the
// format requires (\\, \", \n).
std::string SerializeText(
    const std::vector<prometheus::MetricFamily>& families);

}  // namespace tcpq
