#include "exporter/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/reflection.h"
#include "absl/strings/str_replace.h"
#include "exporter/collector_registry.h"

namespace tcpq {
namespace {

using ::testing::HasSubstr;

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
  EXPECT_EQ(cl->config.civetweb_port, "9715");
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
  EXPECT_EQ(cl->config.civetweb_port, "127.0.0.1:9999");
  EXPECT_EQ(cl->config.telemetry_path, "/m");
  EXPECT_FALSE(cl->config.discovery.all);
  EXPECT_EQ(cl->config.discovery.procfs, "/host/proc");
}

TEST(ConfigTest, ErrorsNameTheFlag) {
  EXPECT_THAT(Parse({"--netns=pods"}).status().message(), HasSubstr("--netns"));
  EXPECT_THAT(Parse({"--web.listen-address=:99999"}).status().message(),
              HasSubstr("--web.listen-address"));
  EXPECT_THAT(Parse({"--web.listen-address=[::1]:9715"}).status().message(),
              HasSubstr("IPv4"));
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
