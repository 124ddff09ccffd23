#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "build_info.h"
#include "exporter/exposition.h"
#include "exporter/log.h"
#include "exporter/scrape_text.h"
#include "procfs/unique_fd.h"

// CMake sets it from the civetweb it links (CMakeLists.txt).
#ifndef TCPQ_CIVETWEB_LINKS_OPENSSL
#define TCPQ_CIVETWEB_LINKS_OPENSSL 0
#endif

namespace tcpq {
namespace {

using Family = ListenAddress::Family;

// Headers, then the body. A small body goes in the same write as the
// headers: one segment. A large one (a scrape) is written from where it
// lies, shared by every request that waited for that scrape; TCP_NODELAY
// (see Start) keeps it from waiting for the client's delayed ACK of the
// headers (about 40 ms per request on a kept-alive connection). A HEAD
// request gets the headers only.
// `extra_headers`: complete header lines, each ending in \r\n.
void Reply(mg_connection* conn, int status, absl::string_view content_type,
           absl::string_view body, absl::string_view extra_headers = "") {
  constexpr size_t kOneWrite = 16 * 1024;
  std::string head = absl::StrCat(
      "HTTP/1.1 ", status, " ", mg_get_response_code_text(conn, status),
      "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", body.size(),
      "\r\nCache-Control: no-store\r\n", extra_headers, "\r\n");
  if (std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0) {
    body = {};
  }
  if (body.size() <= kOneWrite) {
    absl::StrAppend(&head, body);
    body = {};
  }
  mg_write(conn, head.data(), head.size());
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

// A HEAD reply whose length is not known without producing the body.
void ReplyHead(mg_connection* conn, int status, absl::string_view content_type,
               absl::string_view extra_headers) {
  const std::string headers = absl::StrCat(
      "HTTP/1.1 ", status, " ", mg_get_response_code_text(conn, status),
      "\r\nContent-Type: ", content_type, "\r\nCache-Control: no-store\r\n",
      extra_headers, "\r\n");
  mg_write(conn, headers.data(), headers.size());
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

// How late refused credentials are answered (Handle).
constexpr absl::Duration kRefusalDelay = absl::Milliseconds(250);

// Why a request is ill-formed, or empty: requests a proxy in front and the
// exporter could read differently (two lengths, a length and a chunked
// body) and an HTTP/1.1 request without Host (RFC 9112, 3.2) get 400.
std::string IllFormed(const mg_request_info& request) {
  int lengths = 0;
  int hosts = 0;
  bool transfer_encoding = false;
  for (int i = 0; i < request.num_headers; ++i) {
    const absl::string_view name = request.http_headers[i].name;
    if (absl::EqualsIgnoreCase(name, "Content-Length")) ++lengths;
    if (absl::EqualsIgnoreCase(name, "Host")) ++hosts;
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      transfer_encoding = true;
    }
  }
  if (lengths > 1) return "more than one Content-Length";
  if (lengths > 0 && transfer_encoding) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (hosts > 1) return "more than one Host";
  if (hosts == 0 && request.http_version != nullptr &&
      absl::string_view(request.http_version) == "1.1") {
    return "HTTP/1.1 without Host";
  }
  return "";
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
  // CivetWeb gives each connection a worker thread until it closes, so a
  // client that is slow or idle on purpose holds one: the defences are
  // enough workers and deadlines (README, "Hostile and careless clients").
  // - num_threads: more workers than a flood of slow clients holds at once
  //   within request_timeout_ms, with room for the scrapers. A worker is
  //   cheap while it waits: a 100 KiB stack (CivetWeb's build) and a 16 KiB
  //   buffer, mostly untouched.
  // - request_timeout_ms: the whole request head must arrive within it,
  //   counted from its first byte (not per read: a byte a second does not
  //   reset it); also the limit of each write to a client that stops
  //   reading. Prometheus sends a request in one segment.
  // - keep_alive_timeout_ms: an idle kept-alive connection is closed after
  //   it; Prometheus reconnects at its next scrape.
  // - decode_url no: Handle compares the path as sent (see there).
  // - tcp_nodelay: civetweb's own replies (errors, TLS records) are not
  //   held back by Nagle's algorithm either (see Reply).
  const char* civet_options[] = {"listening_ports",
                                 listening_ports.c_str(),
                                 "num_threads",
                                 "256",
                                 "request_timeout_ms",
                                 "5000",
                                 "keep_alive_timeout_ms",
                                 "2000",
                                 "enable_keep_alive",
                                 "yes",
                                 "decode_url",
                                 "no",
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
  // Without an authorization handler civetweb looks for a digest password
  // file on every request (with no document root, /.htpasswd whatever the
  // path) and answers 401 to every request if one is there: a file could
  // lock Prometheus out, and each request paid a path lookup. Basic auth is
  // ours, in Handle.
  mg_set_auth_handler(
      server->context_, "/", [](mg_connection*, void*) { return 1; }, nullptr);
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

HttpServer::HttpServer(HttpOptions options, ScrapeFn scrape)
    : options_(std::move(options)),
      scrapes_([this, scrape = std::move(scrape)] {
        return serializer_.Serialize(scrape());
      }) {}

int HttpServer::Handle(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  if (const std::string reason = IllFormed(*request); !reason.empty()) {
    Reply(conn, 400, "text/plain; charset=utf-8",
          absl::StrCat("Bad Request: ", reason, "\n"));
    return 400;
  }
  const absl::string_view method = request->request_method;
  if (method != "GET" && method != "HEAD") {
    Reply(conn, 405, "text/plain; charset=utf-8", "Method Not Allowed\n",
          "Allow: GET, HEAD\r\n");
    return 405;
  }
  // Every path, as the exporter-toolkit does.
  if (auth_ != nullptr) {
    const char* authorization = mg_get_header(conn, "Authorization");
    const BasicAuthenticator::Result auth =
        auth_->Check(authorization, request->remote_addr);
    // Refused credentials are answered late: a client guessing passwords
    // gets at most a few answers a second per connection, so a flood costs
    // the exporter (and the scrapes) far less CPU. The worker it holds
    // meanwhile is one of many (see Start).
    if (auth != BasicAuthenticator::Result::kAllowed &&
        authorization != nullptr) {
      absl::SleepFor(kRefusalDelay);
    }
    switch (auth) {
      case BasicAuthenticator::Result::kAllowed:
        break;
      case BasicAuthenticator::Result::kDenied:
        Reply(conn, 401, "text/plain; charset=utf-8", "Unauthorized\n",
              "WWW-Authenticate: Basic realm=\"tcpq_exporter\"\r\n");
        return 401;
      case BasicAuthenticator::Result::kBusy:
        Reply(conn, 429, "text/plain; charset=utf-8",
              "Too Many Requests: password checks are busy, retry\n",
              "Retry-After: 1\r\n");
        return 429;
    }
  }
  // The path as sent, not decoded nor cleaned (decode_url is off): only the
  // documented spellings serve; //metrics, /./metrics and /%6detrics are
  // not /metrics.
  const absl::string_view uri =
      request->local_uri_raw != nullptr ? request->local_uri_raw : "";
  if (uri == options_.telemetry_path) return Telemetry(conn);
  if (uri == "/connections" && options_.connections) {
    connections::Response r = options_.connections(
        request->query_string != nullptr ? request->query_string : "");
    Reply(conn, r.status, r.content_type, r.body);
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

int HttpServer::Telemetry(mg_connection* conn) {
  constexpr char kType[] = "text/plain; version=0.0.4; charset=utf-8";
  constexpr char kGzipHeaders[] =
      "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n";
  constexpr char kIdentityHeaders[] = "Vary: Accept-Encoding\r\n";
  const bool gzip = AcceptsGzip(mg_get_header(conn, "Accept-Encoding"));
  if (std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0) {
    // The headers a GET would get, without collecting: no Content-Length,
    // which only the collection would know.
    ReplyHead(conn, 200, kType, gzip ? kGzipHeaders : kIdentityHeaders);
    return 200;
  }
  const int in_flight = telemetry_in_flight_.fetch_add(1) + 1;
  if (options_.max_requests > 0 && in_flight > options_.max_requests) {
    telemetry_in_flight_.fetch_sub(1);
    Reply(conn, 503, "text/plain; charset=utf-8",
          absl::StrCat("Service Unavailable: more than ", options_.max_requests,
                       " scrapes in flight (--web.max-requests)\n"));
    return 503;
  }
  const std::shared_ptr<const ScrapeText> scrape = scrapes_.Get(gzip);
  const absl::StatusOr<std::string>* encoded = gzip ? &scrape->Gzip() : nullptr;
  if (encoded != nullptr && encoded->ok()) {
    Reply(conn, 200, kType, **encoded, kGzipHeaders);
  } else {
    Reply(conn, 200, kType, scrape->text(), kIdentityHeaders);
  }
  telemetry_in_flight_.fetch_sub(1);
  return 200;
}

}  // namespace tcpq
