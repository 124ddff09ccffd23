#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/metric_family.h"

struct mg_connection;
struct mg_context;

namespace tcpq {

struct HttpOptions {
  std::string civetweb_port;   // "9715" or "127.0.0.1:9715"
  std::string telemetry_path;  // "/metrics"
};

// Serves /, the telemetry path, /-/healthy and /-/ready on CivetWeb.
// prometheus-cpp's Exposer serves only metric paths, so the landing page and
// health endpoints need a server of our own; the exposition format still comes
// from prometheus-cpp's TextSerializer.
class HttpServer {
 public:
  using ScrapeFn = std::function<std::vector<prometheus::MetricFamily>()>;

  // Starts listening; an error (address in use, bad address) names the cause.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, ScrapeFn scrape);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // /-/ready answers 200 once this is set.
  void SetReady(bool ready) { ready_ = ready; }
  // The ports actually bound (to learn the port of ":0").
  std::vector<int> ListeningPorts() const;

 private:
  HttpServer(HttpOptions options, ScrapeFn scrape)
      : options_(std::move(options)), scrape_(std::move(scrape)) {}

  static int HandleRequest(struct mg_connection* conn, void* self);
  int Handle(struct mg_connection* conn);

  const HttpOptions options_;
  const ScrapeFn scrape_;
  std::atomic<bool> ready_{false};
  mg_context* context_ = nullptr;
};

}  // namespace tcpq
