#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "build_info.h"
#include "procfs/unique_fd.h"
#include "prometheus/text_serializer.h"

namespace tcpq {
namespace {

void Reply(mg_connection* conn, int status, absl::string_view content_type,
           absl::string_view body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n\r\n",
            status, mg_get_response_code_text(conn, status),
            static_cast<int>(content_type.size()), content_type.data(),
            body.size());
  mg_write(conn, body.data(), body.size());
}

std::string LandingPage(const std::string& telemetry_path) {
  return absl::StrCat(
      "<!DOCTYPE html>\n<html><head><title>tcpq_exporter</title></head><body>\n"
      "<h1>tcpq_exporter</h1>\n<p>TCP accept and SYN queues, drops and "
      "retransmits "
      "per listener and per network namespace, for Prometheus.</p>\n"
      "<p>Version ",
      kVersion, " (revision ", kRevision, ")</p>\n<ul>\n<li><a href=\"",
      telemetry_path,
      "\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n"
      "<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body></html>\n");
}

// civetweb reports only "Failed to setup server ports"; binding the same
// address ourselves recovers the reason (in use, not permitted, no such IP).
std::string BindError(const std::string& civetweb_port) {
  const size_t colon = civetweb_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(
      civetweb_port.c_str() + (colon == std::string::npos ? 0 : colon + 1))));
  if (colon != std::string::npos &&
      ::inet_pton(AF_INET, civetweb_port.substr(0, colon).c_str(),
                  &addr.sin_addr) != 1) {
    return "";
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return std::strerror(errno);
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, ScrapeFn scrape) {
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(scrape)));
  const char* civet_options[] = {"listening_ports",
                                 server->options_.civetweb_port.c_str(),
                                 "num_threads",
                                 "4",
                                 "request_timeout_ms",
                                 "10000",
                                 "enable_keep_alive",
                                 "yes",
                                 nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // civetweb logs to stderr by itself unless told otherwise; we report the
  // error through mg_start2's error text instead.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  mg_init_data init{&callbacks, server.get(), civet_options};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    const std::string reason = BindError(options.civetweb_port);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.civetweb_port, ": ",
                     !reason.empty()         ? reason
                     : error_text[0] != '\0' ? error_text
                                             : "civetweb failed"));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::HandleRequest,
                         server.get());
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

std::vector<int> HttpServer::ListeningPorts() const {
  mg_server_port ports[4];
  const int n = mg_get_server_ports(context_, 4, ports);
  std::vector<int> result;
  for (int i = 0; i < n; ++i) result.push_back(ports[i].port);
  return result;
}

int HttpServer::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Handle(conn);
}

int HttpServer::Handle(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  const absl::string_view uri =
      request->local_uri != nullptr ? request->local_uri : "";
  const absl::string_view method = request->request_method;
  if (method != "GET" && method != "HEAD") {
    Reply(conn, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
    return 405;
  }
  if (uri == options_.telemetry_path) {
    const std::string body = prometheus::TextSerializer().Serialize(scrape_());
    Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    return 200;
  }
  if (uri == "/") {
    Reply(conn, 200, "text/html; charset=utf-8",
          LandingPage(options_.telemetry_path));
    return 200;
  }
  if (uri == "/-/healthy") {
    Reply(conn, 200, "text/plain; charset=utf-8", "Healthy\n");
    return 200;
  }
  if (uri == "/-/ready") {
    if (ready_) {
      Reply(conn, 200, "text/plain; charset=utf-8", "Ready\n");
      return 200;
    }
    Reply(conn, 503, "text/plain; charset=utf-8", "Not ready\n");
    return 503;
  }
  Reply(conn, 404, "text/plain; charset=utf-8", "Not Found\n");
  return 404;
}

}  // namespace tcpq
