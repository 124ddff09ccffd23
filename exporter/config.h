#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "exporter/log.h"
#include "procfs/netns.h"

namespace tcpq {

struct Config {
  std::string listen_address;  // as given, e.g. ":9715"
  std::string civetweb_port;   // the same in civetweb's syntax, "9715"
  std::string telemetry_path;
  std::string web_config_file;  // --web.config.file; empty: plain HTTP, no auth
  bool enable_connections = false;  // --web.enable-connections
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

// ":9715" -> "9715", "127.0.0.1:9715" -> "127.0.0.1:9715".
absl::StatusOr<std::string> ToCivetwebPort(const std::string& listen_address);

}  // namespace tcpq
