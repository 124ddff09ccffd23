#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "exporter/config.h"
#include "exporter/connections.h"
#include "exporter/exposition.h"
#include "exporter/scrape_coalescer.h"
#include "exporter/web_config.h"
#include "prometheus/metric_family.h"

struct mg_connection;
struct mg_context;

namespace tcpq {

struct HttpOptions {
  ListenAddress listen;
  std::string telemetry_path;  // "/metrics"
  WebConfig web;               // TLS and basic auth (--web.config.file)
  // GET /connections (--web.enable-connections), given the query string;
  // null: 404.
  std::function<connections::Response(absl::string_view)> connections;
  // Scrapes of the telemetry path in flight at once (--web.max-requests);
  // beyond it 503. 0: no limit.
  int max_requests = 40;
};

// Serves /, the telemetry path, /-/healthy and /-/ready on CivetWeb, over
// TLS when options.web.tls is set, every path behind basic auth when
// options.web.basic_auth_users is not empty.
// prometheus-cpp's Exposer serves only metric paths, so the landing page and
// health endpoints need a server of our own; the exposition text comes from
// SerializeText (exporter/exposition.h, on two threads), byte for byte what
// prometheus-cpp's TextSerializer writes, several times faster.
class HttpServer {
 public:
  using ScrapeFn = std::function<std::vector<prometheus::MetricFamily>()>;

  // Starts listening; an error (address in use, bad address, a civetweb
  // built without what TLS or IPv6 needs) names the cause. Every address
  // (an empty host) is IPv4 only, with a warning, where the host or this
  // civetweb has no IPv6.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpOptions& options, ScrapeFn scrape);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // /-/ready answers 200 once this is set.
  void SetReady(bool ready) { ready_ = ready; }
  bool Tls() const { return options_.web.tls.has_value(); }
  bool BasicAuth() const { return auth_ != nullptr; }

 private:
  HttpServer(HttpOptions options, ScrapeFn scrape);

  static int HandleRequest(struct mg_connection* conn, void* self);
  static int InitSsl(void* ssl_ctx, void* self);
  int Handle(struct mg_connection* conn);
  int Telemetry(struct mg_connection* conn);

  const HttpOptions options_;
  TwoThreadSerializer serializer_;  // used by scrapes_' thread only
  ScrapeCoalescer scrapes_;
  std::atomic<int> telemetry_in_flight_{0};
  std::atomic<bool> ready_{false};
  std::unique_ptr<BasicAuthenticator> auth_;  // null: no basic auth
  std::string tls_error_;                     // set by InitSsl on failure
  mg_context* context_ = nullptr;
};

}  // namespace tcpq
