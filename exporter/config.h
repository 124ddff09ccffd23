#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "exporter/log.h"
#include "procfs/netns.h"

namespace tcpq {

// --web.listen-address: an IP literal (names are not resolved) and a port.
struct ListenAddress {
  enum class Family {
    kAll,   // empty host: every address of both families
    kIPv4,  // "127.0.0.1:9715"
    kIPv6,  // "[::1]:9715": this address only, IPv6 only
  };
  Family family = Family::kAll;
  std::string host;  // the literal without brackets; empty for kAll
  int port = 0;
};

struct Config {
  std::string listen_address;  // as given, e.g. ":9715"
  ListenAddress listen;        // the same, parsed
  std::string telemetry_path;
  std::string web_config_file;  // --web.config.file; empty: plain HTTP, no auth
  bool enable_connections = false;  // --web.enable-connections
  int max_requests = 40;            // --web.max-requests; 0: no limit
  procfs::DiscoveryOptions discovery;
  log::Level log_level = log::Level::kInfo;
};

// What the command line asked for: run with `config`, or print `output`
// (--help, --version) and exit 0.
struct CommandLine {
  Config config;
  std::string output;
};

// Parses Prometheus-style flags (--web.listen-address=:9715,
// --no-collector.sysctl, --collector.netstat.fields REGEX) into the absl
// flags that back them. Any unknown flag, missing or bad value is an
// InvalidArgument error whose message names the flag.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, char** argv);

// "--web.listen-address" form of every flag, for --help and the README.
std::vector<std::string> FlagSpellings();

// ":9715", "127.0.0.1:9715", "[::1]:9715"; anything else (a name, an IPv6
// literal without brackets, a port outside 0-65535) is an InvalidArgument
// error naming the flag.
absl::StatusOr<ListenAddress> ParseListenAddress(
    absl::string_view listen_address);

// civetweb's listening_ports spelling of `address`: "127.0.0.1:9715",
// "[::1]:9715"; for every address "+9715" (one socket for both families)
// when `dual_stack`, else "9715" (IPv4 only).
std::string ToCivetwebPort(const ListenAddress& address, bool dual_stack);

}  // namespace tcpq
