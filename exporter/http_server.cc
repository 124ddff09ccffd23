#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "build_info.h"
#include "exporter/exposition.h"
#include "exporter/log.h"
#include "procfs/unique_fd.h"

// CMake sets it from the civetweb it links (CMakeLists.txt).
#ifndef TCPQ_CIVETWEB_LINKS_OPENSSL
#define TCPQ_CIVETWEB_LINKS_OPENSSL 0
#endif

namespace tcpq {
namespace {

using Family = ListenAddress::Family;

// The whole response in one write, headers and body: written in two, the
// body waits under Nagle's algorithm for the client's delayed ACK of the
// headers, about 40 ms per request on a kept-alive connection. The headers
// go in front of the body in its own buffer (SerializeText leaves room:
// kSerializeHeadroom), so the exposition is not copied again. A HEAD
// request gets the headers only.
// `extra_headers`: complete header lines, each ending in \r\n.
void Reply(mg_connection* conn, int status, absl::string_view content_type,
           std::string body, absl::string_view extra_headers = "") {
  const std::string headers = absl::StrCat(
      "HTTP/1.1 ", status, " ", mg_get_response_code_text(conn, status),
      "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", body.size(),
      "\r\nCache-Control: no-store\r\n", extra_headers, "\r\n");
  if (std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0) {
    body.clear();
  }
  body.insert(0, headers);
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

constexpr char kRebuildHint[] =
    "build with scripts/build.sh, which links the civetweb that "
    "scripts/install-deps.sh builds (README, Building)";

// TLS needs a civetweb that calls OpenSSL directly (built with NO_SSL_DL).
// One that loads OpenSSL at run time, as Debian's libcivetweb1 does, is
// built for the OpenSSL 1.1 API: with OpenSSL 3 its table of OpenSSL
// functions lacks SSL_get_peer_certificate, and the first handshake
// crashes. mg_check_feature cannot tell the two apart; CMake can.
absl::Status CheckCivetwebTls() {
  if (mg_check_feature(MG_FEATURES_TLS) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls_server_config is set but this build's civetweb has no TLS; ",
        kRebuildHint));
  }
  if (!TCPQ_CIVETWEB_LINKS_OPENSSL) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls_server_config is set but this build's civetweb loads OpenSSL at "
        "run time (as Debian's libcivetweb1 does, for the OpenSSL 1.1 API), "
        "which crashes with OpenSSL 3; ",
        kRebuildHint));
  }
  return absl::OkStatus();
}

// Whether `listen` takes one dual-stack socket: only for every address
// (an empty host), and only where both civetweb and the host have IPv6. A
// kernel without IPv6 (ipv6.disable=1) refuses AF_INET6 sockets; a
// namespace whose interfaces have IPv6 disabled by sysctl still takes IPv4
// on a dual-stack socket.
absl::StatusOr<bool> DualStack(const ListenAddress& listen) {
  const bool civetweb_ipv6 = mg_check_feature(MG_FEATURES_IPV6) != 0;
  if (listen.family == Family::kIPv6 && !civetweb_ipv6) {
    return absl::FailedPreconditionError(
        absl::StrCat("this build's civetweb has no IPv6; ", kRebuildHint));
  }
  if (listen.family != Family::kAll) return false;
  if (!civetweb_ipv6) {
    log::Warn("listening on IPv4 only",
              {{"reason", absl::StrCat("this build's civetweb has no IPv6; ",
                                       kRebuildHint)}});
    return false;
  }
  UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) {
    log::Warn("listening on IPv4 only",
              {{"reason", absl::StrCat("this host has no IPv6: socket: ",
                                       std::strerror(errno))}});
    return false;
  }
  return true;
}

// civetweb reports only "Failed to setup server ports"; binding the same
// address as civetweb does recovers the reason (in use, not permitted, no
// such address).
std::string BindError(const ListenAddress& listen, bool dual_stack) {
  const bool ipv6 = listen.family == Family::kIPv6 || dual_stack;
  sockaddr_in addr4{};
  sockaddr_in6 addr6{};
  addr4.sin_family = AF_INET;
  addr4.sin_port = htons(static_cast<uint16_t>(listen.port));
  addr6.sin6_family = AF_INET6;
  addr6.sin6_port = addr4.sin_port;
  if (!listen.host.empty() &&
      ::inet_pton(ipv6 ? AF_INET6 : AF_INET, listen.host.c_str(),
                  ipv6 ? static_cast<void*>(&addr6.sin6_addr)
                       : static_cast<void*>(&addr4.sin_addr)) != 1) {
    return "";
  }
  UniqueFd fd(
      ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return std::strerror(errno);
  const int one = 1;
  const int v6only = dual_stack ? 0 : 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ipv6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  const int bound = ipv6 ? ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr6),
                                  sizeof(addr6))
                         : ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr4),
                                  sizeof(addr4));
  return bound == 0 ? "" : std::strerror(errno);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, ScrapeFn scrape) {
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(scrape)));
  const bool tls = server->options_.web.tls.has_value();
  if (tls) {
    if (absl::Status s = CheckCivetwebTls(); !s.ok()) return s;
  }
  const absl::StatusOr<bool> dual_stack = DualStack(options.listen);
  if (!dual_stack.ok()) return dual_stack.status();
  if (!server->options_.web.basic_auth_users.empty()) {
    server->auth_ = std::make_unique<BasicAuthenticator>(
        server->options_.web.basic_auth_users);
  }
  // A trailing "s" makes civetweb speak TLS on the port.
  const std::string listening_ports =
      absl::StrCat(ToCivetwebPort(options.listen, *dual_stack), tls ? "s" : "");
  // tcp_nodelay: civetweb's own replies (errors, TLS records) are not held
  // back by Nagle's algorithm either (see Reply).
  const char* civet_options[] = {"listening_ports",
                                 listening_ports.c_str(),
                                 "num_threads",
                                 "4",
                                 "request_timeout_ms",
                                 "10000",
                                 "enable_keep_alive",
                                 "yes",
                                 "tcp_nodelay",
                                 "1",
                                 nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // civetweb logs to stderr by itself unless told otherwise; we report the
  // error through mg_start2's error text instead.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  if (tls) callbacks.init_ssl = &HttpServer::InitSsl;
  mg_init_data init{&callbacks, server.get(), civet_options};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    if (!server->tls_error_.empty()) {
      return absl::InvalidArgumentError(server->tls_error_);
    }
    const std::string reason = BindError(options.listen, *dual_stack);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen: ", !reason.empty()         ? reason
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

int HttpServer::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Handle(conn);
}

// civetweb's init_ssl: our settings on its SSL_CTX; 1 = certificate set.
int HttpServer::InitSsl(void* ssl_ctx, void* self) {
  HttpServer* server = static_cast<HttpServer*>(self);
  const absl::Status status = ConfigureTlsContext(
      *server->options_.web.tls, static_cast<ssl_ctx_st*>(ssl_ctx));
  if (!status.ok()) {
    server->tls_error_ = std::string(status.message());
    return -1;
  }
  return 1;
}

int HttpServer::Handle(mg_connection* conn) {
  // Every path, as the exporter-toolkit does.
  if (auth_ != nullptr && !auth_->Check(mg_get_header(conn, "Authorization"))) {
    Reply(conn, 401, "text/plain; charset=utf-8", "Unauthorized\n",
          "WWW-Authenticate: Basic realm=\"tcpq_exporter\"\r\n");
    return 401;
  }
  const mg_request_info* request = mg_get_request_info(conn);
  const absl::string_view uri =
      request->local_uri != nullptr ? request->local_uri : "";
  const absl::string_view method = request->request_method;
  if (method != "GET" && method != "HEAD") {
    Reply(conn, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
    return 405;
  }
  if (uri == options_.telemetry_path) {
    Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
          SerializeText(scrape_()));
    return 200;
  }
  if (uri == "/connections" && options_.connections) {
    connections::Response r = options_.connections(
        request->query_string != nullptr ? request->query_string : "");
    Reply(conn, r.status, r.content_type, std::move(r.body));
    return r.status;
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
