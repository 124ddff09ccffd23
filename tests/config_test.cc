#include "exporter/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "exporter/collector_registry.h"

namespace tcpq {
namespace {

using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  absl::FlagSaver restore_flags_after_test;  // NOLINT: scoped to this parse
  args.insert(args.begin(), "tcpq_exporter");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  absl::StatusOr<CommandLine> result =
      ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  return result;
}

TEST(ConfigTest, Defaults) {
  absl::StatusOr<CommandLine> cl = Parse({});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->config.listen_address, ":9715");
  EXPECT_EQ(cl->config.listen.family, ListenAddress::Family::kAll);
  EXPECT_EQ(cl->config.listen.host, "");
  EXPECT_EQ(cl->config.listen.port, 9715);
  EXPECT_EQ(cl->config.telemetry_path, "/metrics");
  EXPECT_TRUE(cl->config.discovery.all);
  EXPECT_EQ(cl->config.discovery.procfs, "/proc");
  EXPECT_EQ(cl->config.discovery.run_netns, "/run/netns");
}

TEST(ConfigTest, PrometheusStyleSpellings) {
  absl::StatusOr<CommandLine> cl = Parse(
      {"--web.listen-address=127.0.0.1:9999", "--web.telemetry-path", "/m",
       "--netns=host", "-path.procfs=/host/proc", "--no-collector.sysctl"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->config.listen.family, ListenAddress::Family::kIPv4);
  EXPECT_EQ(cl->config.listen.host, "127.0.0.1");
  EXPECT_EQ(cl->config.listen.port, 9999);
  EXPECT_EQ(cl->config.telemetry_path, "/m");
  EXPECT_FALSE(cl->config.discovery.all);
  EXPECT_EQ(cl->config.discovery.procfs, "/host/proc");
}

TEST(ConfigTest, ErrorsNameTheFlag) {
  EXPECT_THAT(Parse({"--netns=pods"}).status().message(), HasSubstr("--netns"));
  EXPECT_THAT(Parse({"--web.listen-address=:99999"}).status().message(),
              HasSubstr("--web.listen-address"));
  EXPECT_THAT(Parse({"--web.listen-address=localhost:9715"}).status().message(),
              HasSubstr("--web.listen-address"));
  EXPECT_THAT(Parse({"--bogus"}).status().message(),
              HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--web_listen_address=:1"}).status().message(),
              HasSubstr("unknown flag"));
  EXPECT_THAT(Parse({"--collector.netstat=maybe"}).status().message(),
              HasSubstr("--collector.netstat"));
  EXPECT_THAT(Parse({"--web.telemetry-path"}).status().message(),
              HasSubstr("needs a value"));
  EXPECT_THAT(Parse({"--web.telemetry-path=/"}).status().message(),
              HasSubstr("--web.telemetry-path"));
  EXPECT_THAT(Parse({"--log.level=loud"}).status().message(),
              HasSubstr("--log.level"));
  EXPECT_THAT(Parse({"stray"}).status().message(),
              HasSubstr("unexpected argument"));
}

// Each accepted spelling: family, host, port, and civetweb's spelling with
// and without IPv6 on the host.
TEST(ConfigTest, ListenAddressesOfBothFamilies) {
  struct Case {
    std::string flag;
    ListenAddress::Family family;
    std::string host;
    int port;
    std::string dual_stack, ipv4_only;
  };
  using F = ListenAddress::Family;
  const Case cases[] = {
      {":9715", F::kAll, "", 9715, "+9715", "9715"},
      {":0", F::kAll, "", 0, "+0", "0"},
      {"127.0.0.1:9715", F::kIPv4, "127.0.0.1", 9715, "127.0.0.1:9715",
       "127.0.0.1:9715"},
      {"0.0.0.0:65535", F::kIPv4, "0.0.0.0", 65535, "0.0.0.0:65535",
       "0.0.0.0:65535"},
      {"[::]:9715", F::kIPv6, "::", 9715, "[::]:9715", "[::]:9715"},
      {"[::1]:9715", F::kIPv6, "::1", 9715, "[::1]:9715", "[::1]:9715"},
      {"[2001:db8::1]:9715", F::kIPv6, "2001:db8::1", 9715,
       "[2001:db8::1]:9715", "[2001:db8::1]:9715"},
      {"[::ffff:10.0.0.1]:80", F::kIPv6, "::ffff:10.0.0.1", 80,
       "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.1]:80"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.flag);
    ASSERT_TRUE(address.ok()) << c.flag << ": " << address.status();
    EXPECT_EQ(address->family, c.family) << c.flag;
    EXPECT_EQ(address->host, c.host) << c.flag;
    EXPECT_EQ(address->port, c.port) << c.flag;
    EXPECT_EQ(ToCivetwebPort(*address, true), c.dual_stack) << c.flag;
    EXPECT_EQ(ToCivetwebPort(*address, false), c.ipv4_only) << c.flag;
  }
}

TEST(ConfigTest, BadListenAddressesSayWhy) {
  const std::pair<std::string, std::string> cases[] = {
      {"9715", "must be [host]:port"},
      {"", "must be [host]:port"},
      {":", "port 0-65535"},
      {":99999", "port 0-65535"},
      {":65536", "port 0-65535"},
      {":+80", "port 0-65535"},
      {": 80", "port 0-65535"},
      {":-1", "port 0-65535"},
      {"[::1]:", "port 0-65535"},
      {"::1:9715", "needs brackets around an IPv6 address"},
      {"localhost:9715", "names are not resolved"},
      {"example.com:9715", "names are not resolved"},
      {"[localhost]:9715", "names are not resolved"},
      {"[127.0.0.1]:9715", "names are not resolved"},
      {"[fe80::1%eth0]:9715", "names are not resolved"},
      {"[::1:9715", "names are not resolved"},
      {"1.2.3:9715", "names are not resolved"},
      {"256.0.0.1:9715", "names are not resolved"},
  };
  for (const auto& [flag, reason] : cases) {
    const absl::Status status = ParseListenAddress(flag).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_THAT(std::string(status.message()),
                AllOf(StartsWith("--web.listen-address "), HasSubstr(reason),
                      EndsWith(absl::StrCat(", got \"", flag, "\""))))
        << flag;
  }
}

TEST(ConfigTest, HelpListsEveryFlagInItsDocumentedSpelling) {
  absl::StatusOr<CommandLine> cl = Parse({"--help"});
  ASSERT_TRUE(cl.ok());
  for (const std::string& spelling : FlagSpellings()) {
    EXPECT_THAT(cl->output, HasSubstr("--" + spelling)) << spelling;
  }
  EXPECT_THAT(cl->output, HasSubstr("--no-collector.synqueue"));
}

TEST(ConfigTest, EverySpellingResolvesToAFlag) {
  for (const std::string& spelling : FlagSpellings()) {
    EXPECT_NE(absl::FindCommandLineFlag(
                  absl::StrReplaceAll(spelling, {{".", "_"}, {"-", "_"}})),
              nullptr)
        << spelling;
  }
}

TEST(ConfigTest, BadNetstatRegexFailsCollectorCreation) {
  absl::FlagSaver restore;
  ASSERT_TRUE(Parse({}).ok());
  std::string error;
  absl::FindCommandLineFlag("collector_netstat_fields")
      ->ParseFrom("TCP(", &error);
  absl::StatusOr<std::unique_ptr<Scraper>> scraper = Scraper::Create({});
  ASSERT_FALSE(scraper.ok());
  EXPECT_THAT(scraper.status().message(),
              HasSubstr("--collector.netstat.fields"));
}

}  // namespace
}  // namespace tcpq
