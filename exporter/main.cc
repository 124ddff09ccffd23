// tcpq_exporter: Prometheus exporter for TCP accept/SYN queues, drops and
// retransmits per listener and per network namespace.

#include <csignal>
#include <cstdio>

#include "absl/strings/str_join.h"
#include "build_info.h"
#include "exporter/collector_registry.h"
#include "exporter/config.h"
#include "exporter/http_server.h"
#include "exporter/log.h"

namespace {

constexpr int kExitUsage = 2;

int Run(int argc, char** argv) {
  absl::StatusOr<tcpq::CommandLine> command_line =
      tcpq::ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    tcpq::log::Error("invalid command line",
                     {{"err", std::string(command_line.status().message())}});
    return kExitUsage;
  }
  if (!command_line->output.empty()) {
    std::fputs(command_line->output.c_str(), stdout);
    return 0;
  }
  const tcpq::Config& config = command_line->config;
  tcpq::log::SetMinLevel(config.log_level);

  absl::StatusOr<std::unique_ptr<tcpq::Scraper>> scraper =
      tcpq::Scraper::Create(config.discovery);
  if (!scraper.ok()) {
    tcpq::log::Error("invalid collector configuration",
                     {{"err", std::string(scraper.status().message())}});
    return kExitUsage;
  }

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and sigwait() below is the only receiver.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  tcpq::log::Info(
      "starting tcpq_exporter",
      {{"version", tcpq::kVersion},
       {"revision", tcpq::kRevision},
       {"collectors", absl::StrJoin((*scraper)->EnabledCollectors(), ",")},
       {"netns", config.discovery.all ? "all" : "host"}});
  tcpq::Scraper* scraper_ptr = scraper->get();
  absl::StatusOr<std::unique_ptr<tcpq::HttpServer>> server =
      tcpq::HttpServer::Start({config.civetweb_port, config.telemetry_path},
                              [scraper_ptr] { return scraper_ptr->Scrape(); });
  if (!server.ok()) {
    tcpq::log::Error("cannot start web server",
                     {{"address", config.listen_address},
                      {"err", std::string(server.status().message())}});
    return kExitUsage;
  }
  (*server)->SetReady(true);
  tcpq::log::Info("listening", {{"address", config.listen_address},
                                {"telemetry_path", config.telemetry_path}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  tcpq::log::Info("shutting down", {{"signal", strsignal(signal_number)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
