#include "exporter/exposition.h"

#include <cmath>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tcpq {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else if (value == std::trunc(value) && std::fabs(value) < 0x1p53 &&
             !(value == 0 && std::signbit(value))) {
    // Most samples are counts: integers below 2^53 print as "%.16g" prints
    // them, without printf.
    absl::StrAppend(&out, static_cast<int64_t>(value));
  } else {
    char buffer[32];
    const int length = std::snprintf(buffer, sizeof(buffer), "%.16g", value);
    out.append(buffer, static_cast<size_t>(length));
  }
}

void AppendLabelValue(std::string& out, absl::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// "name_suffix{labels,extra="..."} " of one sample line.
void AppendHead(std::string& out, const MetricFamily& family,
                const ClientMetric& metric, absl::string_view suffix = "",
                absl::string_view extra_name = "",
                absl::string_view extra_value = "") {
  absl::StrAppend(&out, family.name, suffix);
  if (!metric.label.empty() || !extra_name.empty()) {
    out += '{';
    const char* separator = "";
    for (const ClientMetric::Label& label : metric.label) {
      absl::StrAppend(&out, separator, label.name, "=\"");
      AppendLabelValue(out, label.value);
      out += '"';
      separator = ",";
    }
    if (!extra_name.empty()) {
      absl::StrAppend(&out, separator, extra_name, "=\"");
      AppendLabelValue(out, extra_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void AppendTail(std::string& out, const ClientMetric& metric) {
  if (metric.timestamp_ms != 0) absl::StrAppend(&out, " ", metric.timestamp_ms);
  out += '\n';
}

// One line of a counter, gauge or untyped sample.
void AppendSample(std::string& out, const MetricFamily& family,
                  const ClientMetric& metric, double value) {
  AppendHead(out, family, metric);
  AppendNumber(out, value);
  AppendTail(out, metric);
}

std::string NumberText(double value) {
  std::string text;
  AppendNumber(text, value);
  return text;
}

// The _count and _sum lines every histogram and summary starts with.
void AppendCountAndSum(std::string& out, const MetricFamily& family,
                       const ClientMetric& metric, uint64_t count, double sum) {
  AppendHead(out, family, metric, "_count");
  absl::StrAppend(&out, count);
  AppendTail(out, metric);
  AppendHead(out, family, metric, "_sum");
  AppendNumber(out, sum);
  AppendTail(out, metric);
}

void AppendHistogram(std::string& out, const MetricFamily& family,
                     const ClientMetric& metric) {
  const ClientMetric::Histogram& histogram = metric.histogram;
  AppendCountAndSum(out, family, metric, histogram.sample_count,
                    histogram.sample_sum);
  bool has_infinity = false;
  for (const ClientMetric::Bucket& bucket : histogram.bucket) {
    AppendHead(out, family, metric, "_bucket", "le",
               NumberText(bucket.upper_bound));
    absl::StrAppend(&out, bucket.cumulative_count);
    AppendTail(out, metric);
    has_infinity = std::isinf(bucket.upper_bound) && bucket.upper_bound > 0;
  }
  if (!has_infinity) {
    AppendHead(out, family, metric, "_bucket", "le", "+Inf");
    absl::StrAppend(&out, histogram.sample_count);
    AppendTail(out, metric);
  }
}

void AppendSummary(std::string& out, const MetricFamily& family,
                   const ClientMetric& metric) {
  const ClientMetric::Summary& summary = metric.summary;
  AppendCountAndSum(out, family, metric, summary.sample_count,
                    summary.sample_sum);
  for (const ClientMetric::Quantile& quantile : summary.quantile) {
    AppendHead(out, family, metric, "", "quantile",
               NumberText(quantile.quantile));
    AppendNumber(out, quantile.value);
    AppendTail(out, metric);
  }
}

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

// An estimate of the text's size (a little above it), so it is written into one
// buffer instead of being copied at every doubling (on a VM, the fresh pages of
// each copy fault in one by one).
size_t EstimateSize(const MetricFamily& family) {
  constexpr size_t kNumberAndPunctuation = 48;
  size_t size = 2 * family.name.size() + family.help.size() + 32;
  for (const ClientMetric& metric : family.metric) {
    size_t line = family.name.size() + kNumberAndPunctuation;
    for (const ClientMetric::Label& label : metric.label) {
      line += label.name.size() + label.value.size() + 4;
    }
    const size_t lines = family.type == MetricType::Histogram
                             ? metric.histogram.bucket.size() + 3
                             : (family.type == MetricType::Summary
                                    ? metric.summary.quantile.size() + 2
                                    : 1);
    size += line * lines;
  }
  return size;
}

size_t EstimateSize(std::span<const MetricFamily> families) {
  size_t size = 0;
  for (const MetricFamily& family : families) size += EstimateSize(family);
  return size;
}

// Appends the exposition of `families` to `out`.
void AppendText(std::string& out, std::span<const MetricFamily> families) {
  for (const MetricFamily& family : families) {
    if (!family.help.empty()) {
      absl::StrAppend(&out, "# HELP ", family.name, " ", family.help, "\n");
    }
    absl::StrAppend(&out, "# TYPE ", family.name, " ", TypeName(family.type),
                    "\n");
    for (const ClientMetric& metric : family.metric) {
      switch (family.type) {
        case MetricType::Counter:
          AppendSample(out, family, metric, metric.counter.value);
          break;
        case MetricType::Gauge:
          AppendSample(out, family, metric, metric.gauge.value);
          break;
        case MetricType::Untyped:
          AppendSample(out, family, metric, metric.untyped.value);
          break;
        case MetricType::Summary:
          AppendSummary(out, family, metric);
          break;
        case MetricType::Histogram:
          AppendHistogram(out, family, metric);
          break;
      }
    }
  }
}

}  // namespace

std::string SerializeText(std::span<const MetricFamily> families) {
  std::string out;
  out.reserve(EstimateSize(families));
  AppendText(out, families);
  return out;
}

std::string TwoThreadSerializer::Serialize(
    const std::vector<MetricFamily>& families) {
  std::vector<size_t> sizes;
  sizes.reserve(families.size());
  size_t total = 0;
  for (const MetricFamily& family : families) {
    sizes.push_back(EstimateSize(family));
    total += sizes.back();
  }
  if (total < split_from_) return SerializeText(families);
  ++split_writes_;
  size_t cut = 0;
  size_t before = 0;
  for (; cut < families.size() && 2 * before < total; ++cut) {
    before += sizes[cut];
  }
  const std::span<const MetricFamily> all(families);
  std::string second;
  // Sized from the estimates above, not estimated again.
  helper_.Start([&second, rest = all.subspan(cut), size = total - before] {
    second.reserve(size);
    AppendText(second, rest);
  });
  std::string text;
  text.reserve(total);
  AppendText(text, all.first(cut));
  helper_.Wait();
  text += second;
  return text;
}

}  // namespace tcpq
