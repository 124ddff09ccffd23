// tcpq_exporter: Prometheus exporter for TCP accept/SYN queues, drops and
// retransmits per listener and per network namespace.

#include <malloc.h>

#include <csignal>
#include <cstdio>

#include "absl/strings/str_join.h"
#include "build_info.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/bpf_shared.h"
#include "exporter/config.h"
#include "exporter/connections.h"
#include "exporter/http_server.h"
#include "exporter/log.h"
#include "exporter/web_config.h"
#include "procfs/inet_diag.h"
#include "procfs/listeners.h"

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

  tcpq::WebConfig web_config;
  if (!config.web_config_file.empty()) {
    absl::StatusOr<tcpq::WebConfig> loaded =
        tcpq::LoadWebConfig(config.web_config_file);
    if (!loaded.ok()) {
      tcpq::log::Error("invalid web config",
                       {{"err", std::string(loaded.status().message())}});
      return kExitUsage;
    }
    web_config = *std::move(loaded);
    if (web_config.has_http_server_config) {
      tcpq::log::Info(
          "http_server_config of the web config is not supported "
          "and ignored",
          {{"file", config.web_config_file}});
    }
  }

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
  tcpq::HttpOptions http{config.listen, config.telemetry_path,
                         std::move(web_config), nullptr, config.max_requests};
  std::unique_ptr<tcpq::connections::Endpoint> connections;
  if (config.enable_connections) {
    connections = std::make_unique<tcpq::connections::Endpoint>(
        [](const tcpq_conn_filter& filter,
           absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
          tcpq::SharedBpf& bpf = tcpq::SharedBpf::Get();
          if (bpf.programs() == nullptr) return bpf.load_error();
          return bpf.programs()->WalkConnections(filter, chunk);
        },
        [scraper_ptr]() -> tcpq::connections::Identify {
          // Namespace and pod of each namespace, and the owner of the
          // listener a connection belongs to, as the last scrape named them.
          return [names = scraper_ptr->LastNames()](const tcpq_connection& c) {
            tcpq::connections::Identity identity;
            if (names == nullptr) return identity;
            const uint64_t netns = c.socket.netns;
            if (const auto ns = names->namespaces.find(netns);
                ns != names->namespaces.end()) {
              identity.kubernetes_namespace = ns->second.kube_namespace;
              identity.pod = ns->second.pod;
            }
            if (const auto owners = names->listener_processes.find(netns);
                owners != names->listener_processes.end()) {
              const int family = c.socket.family;
              const auto owner = tcpq::procfs::FindListener(
                  owners->second,
                  {tcpq::procfs::FormatAddress(family, c.socket.local_addr),
                   c.socket.local_port},
                  {tcpq::procfs::WildcardAddress(family), c.socket.local_port});
              if (owner != owners->second.end())
                identity.process = owner->second;
            }
            return identity;
          };
        });
    http.connections = [endpoint = connections.get()](absl::string_view q) {
      return endpoint->Handle(q);
    };
  }
  absl::StatusOr<std::unique_ptr<tcpq::HttpServer>> server =
      tcpq::HttpServer::Start(http,
                              [scraper_ptr] { return scraper_ptr->Scrape(); });
  if (!server.ok()) {
    tcpq::log::Error("cannot start web server",
                     {{"address", config.listen_address},
                      {"err", std::string(server.status().message())}});
    return kExitUsage;
  }
  (*server)->SetReady(true);
  tcpq::log::Info("listening",
                  {{"address", config.listen_address},
                   {"telemetry_path", config.telemetry_path},
                   {"tls", (*server)->Tls() ? "true" : "false"},
                   {"basic_auth", (*server)->BasicAuth() ? "true" : "false"}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  tcpq::log::Info("shutting down", {{"signal", strsignal(signal_number)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena, which keeps what
  // it freed: the namespace threads and the HTTP threads together held
  // ~9 MiB more at 100 namespaces (bench/netns_scale_bench.py: peak RSS
  // 28.8 -> 20.2 MiB, CPU per scrape unchanged).
  mallopt(M_ARENA_MAX, 2);
  return Run(argc, argv);
}
