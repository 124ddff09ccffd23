#include "exporter/config.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "build_info.h"
#include "exporter/collector_registry.h"

ABSL_FLAG(std::string, web_listen_address, ":9715",
          "Address to listen on for the web interface and telemetry: "
          "[host]:port with an IPv4 address or an IPv6 address in brackets "
          "([::1]:9715); an empty host listens on every address of both "
          "families (IPv4 only where the host has no IPv6).");
ABSL_FLAG(std::string, web_telemetry_path, "/metrics",
          "Path under which to expose metrics.");
ABSL_FLAG(std::string, web_config_file, "",
          "Path to a web configuration file (the Prometheus exporter-toolkit "
          "format) that enables TLS and/or basic authentication.");
ABSL_FLAG(bool, web_enable_connections, false,
          "Serve GET /connections: the live TCP connections of every "
          "namespace, filtered (off by default: it shows addresses).");
ABSL_FLAG(int, web_max_requests, 40,
          "Maximum number of scrapes of the telemetry path in flight at once; "
          "beyond it a scrape gets 503 at once (0: no limit). Scrapes that "
          "arrive while one runs share its result.");
ABSL_FLAG(std::string, netns, "all",
          "Network namespaces to read: 'all' (every namespace found through "
          "<path.procfs>/*/ns/net and <path.run-netns>) or 'host' (only the "
          "exporter's own).");
ABSL_FLAG(std::string, path_procfs, "/proc",
          "procfs mountpoint used to discover namespaces (/host/proc in a "
          "container).");
ABSL_FLAG(std::string, path_run_netns, "/run/netns",
          "Directory of named network namespaces (`ip netns`); names label "
          "tcpq_netns_info.");
ABSL_FLAG(std::string, path_varlog, "/var/log",
          "Directory holding the kubelet's pods/ and containers/ log "
          "directories, whose names give pod, namespace and container names "
          "(/host/var/log in a container).");
ABSL_FLAG(std::string, log_level, "info",
          "Only log messages with the given severity or above: debug, info, "
          "warn, error.");
ABSL_FLAG(bool, help, false, "Show this help and exit.");
ABSL_FLAG(bool, version, false, "Show the version and exit.");

namespace tcpq {
namespace {

// Spellings of the general flags; collectors add collector.<name> and their
// own options (see collector_registry.cc).
constexpr const char* kGeneralFlags[] = {"web.listen-address",
                                         "web.telemetry-path",
                                         "web.config.file",
                                         "web.enable-connections",
                                         "web.max-requests",
                                         "netns",
                                         "path.procfs",
                                         "path.run-netns",
                                         "path.varlog",
                                         "log.level",
                                         "help",
                                         "version"};

std::string AbslName(absl::string_view spelling) {
  return absl::StrReplaceAll(spelling, {{".", "_"}, {"-", "_"}});
}

absl::Status SetFlag(absl::string_view spelling, absl::string_view value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(AbslName(spelling));
  if (flag == nullptr || absl::StrContains(spelling, '_')) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown flag --", spelling));
  }
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid value \"", value, "\" for --", spelling, ": ", error));
  }
  return absl::OkStatus();
}

bool IsBoolFlag(absl::string_view spelling) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(AbslName(spelling));
  return flag != nullptr && flag->IsOfType<bool>();
}

std::string Usage() {
  std::string out = absl::StrCat(
      "tcpq_exporter ", kVersion,
      ": Prometheus exporter for TCP accept/SYN queues, drops and retransmits "
      "per listener and per network namespace.\n\nFlags:\n");
  for (const std::string& spelling : FlagSpellings()) {
    const absl::CommandLineFlag* flag =
        absl::FindCommandLineFlag(AbslName(spelling));
    absl::StrAppend(&out, "  --", spelling);
    if (flag->IsOfType<bool>() && absl::StartsWith(spelling, "collector.")) {
      absl::StrAppend(&out, " / --no-", spelling);
    }
    absl::StrAppend(
        &out, "\n      ", flag->Help(), " (default: ",
        flag->DefaultValue().empty() ? "\"\"" : flag->DefaultValue(), ")\n");
  }
  return out;
}

absl::StatusOr<Config> BuildConfig() {
  Config config;
  config.listen_address = absl::GetFlag(FLAGS_web_listen_address);
  absl::StatusOr<ListenAddress> listen =
      ParseListenAddress(config.listen_address);
  if (!listen.ok()) return listen.status();
  config.listen = *std::move(listen);
  config.telemetry_path = absl::GetFlag(FLAGS_web_telemetry_path);
  if (!absl::StartsWith(config.telemetry_path, "/") ||
      config.telemetry_path == "/" ||
      absl::StartsWith(config.telemetry_path, "/-/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web.telemetry-path must start with '/' and not be '/' "
                     "or under '/-/', got \"",
                     config.telemetry_path, "\""));
  }
  config.web_config_file = absl::GetFlag(FLAGS_web_config_file);
  config.enable_connections = absl::GetFlag(FLAGS_web_enable_connections);
  config.max_requests = absl::GetFlag(FLAGS_web_max_requests);
  if (config.max_requests < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web.max-requests must be 0 (no limit) or more, got ",
                     config.max_requests));
  }
  const std::string netns = absl::GetFlag(FLAGS_netns);
  if (netns != "all" && netns != "host") {
    return absl::InvalidArgumentError(
        absl::StrCat("--netns must be 'all' or 'host', got \"", netns, "\""));
  }
  config.discovery.all = netns == "all";
  config.discovery.procfs = absl::GetFlag(FLAGS_path_procfs);
  config.discovery.run_netns = absl::GetFlag(FLAGS_path_run_netns);
  config.discovery.varlog = absl::GetFlag(FLAGS_path_varlog);
  const std::string level = absl::GetFlag(FLAGS_log_level);
  if (!log::ParseLevel(level, config.log_level)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log.level must be debug, info, warn or error, got \"", level, "\""));
  }
  return config;
}

}  // namespace

std::vector<std::string> FlagSpellings() {
  std::vector<std::string> spellings(std::begin(kGeneralFlags),
                                     std::end(kGeneralFlags));
  for (const std::string& spelling : CollectorFlagSpellings())
    spellings.push_back(spelling);
  return spellings;
}

absl::StatusOr<ListenAddress> ParseListenAddress(
    absl::string_view listen_address) {
  const auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--web.listen-address ", what, ", got \"", listen_address, "\""));
  };
  const size_t colon = listen_address.rfind(':');
  if (colon == absl::string_view::npos) {
    return error("must be [host]:port");
  }
  const absl::string_view digits = listen_address.substr(colon + 1);
  ListenAddress address;
  if (digits.empty() || digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(digits, &address.port) || address.port > 65535) {
    return error("must end in a port 0-65535");
  }
  absl::string_view host = listen_address.substr(0, colon);
  if (host.empty()) return address;
  in_addr ipv4;
  in6_addr ipv6;
  address.host = std::string(host);
  if (::inet_pton(AF_INET, address.host.c_str(), &ipv4) == 1) {
    address.family = ListenAddress::Family::kIPv4;
    return address;
  }
  if (absl::ConsumePrefix(&host, "[") && absl::ConsumeSuffix(&host, "]")) {
    address.host = std::string(host);
    if (::inet_pton(AF_INET6, address.host.c_str(), &ipv6) == 1) {
      address.family = ListenAddress::Family::kIPv6;
      return address;
    }
  } else if (::inet_pton(AF_INET6, address.host.c_str(), &ipv6) == 1) {
    return error("needs brackets around an IPv6 address: [::1]:9715");
  }
  return error(
      "host must be an IPv4 address, an IPv6 address in brackets or empty "
      "(names are not resolved)");
}

std::string ToCivetwebPort(const ListenAddress& address, bool dual_stack) {
  switch (address.family) {
    case ListenAddress::Family::kIPv4:
      return absl::StrCat(address.host, ":", address.port);
    case ListenAddress::Family::kIPv6:
      return absl::StrCat("[", address.host, "]:", address.port);
    case ListenAddress::Family::kAll:
      break;
  }
  return absl::StrCat(dual_stack ? "+" : "", address.port);
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument \"", arg, "\" (flags start with --)"));
    }
    const size_t eq = arg.find('=');
    absl::string_view name = arg.substr(0, eq);
    if (eq != absl::string_view::npos) {
      if (auto s = SetFlag(name, arg.substr(eq + 1)); !s.ok()) return s;
      continue;
    }
    if (IsBoolFlag(name)) {
      if (auto s = SetFlag(name, "true"); !s.ok()) return s;
      continue;
    }
    absl::string_view negated = name;
    if (absl::ConsumePrefix(&negated, "no-") && IsBoolFlag(negated)) {
      if (auto s = SetFlag(negated, "false"); !s.ok()) return s;
      continue;
    }
    if (absl::FindCommandLineFlag(AbslName(name)) == nullptr) {
      return SetFlag(name, "");  // reports the unknown flag
    }
    if (i + 1 >= argc) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value"));
    }
    if (auto s = SetFlag(name, argv[++i]); !s.ok()) return s;
  }
  CommandLine result;
  if (absl::GetFlag(FLAGS_help)) {
    result.output = Usage();
    return result;
  }
  if (absl::GetFlag(FLAGS_version)) {
    result.output = absl::StrCat("tcpq_exporter version ", kVersion,
                                 " revision ", kRevision, "\n");
    return result;
  }
  absl::StatusOr<Config> config = BuildConfig();
  if (!config.ok()) return config.status();
  result.config = *std::move(config);
  return result;
}

}  // namespace tcpq
