#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <link.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "build_info.h"
#include "exporter/exposition.h"
#include "procfs/unique_fd.h"

namespace tcpq {
namespace {

// `extra_headers`: complete header lines, each ending in \r\n.
void Reply(mg_connection* conn, int status, absl::string_view content_type,
           absl::string_view body, absl::string_view extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%.*s\r\n",
            status, mg_get_response_code_text(conn, status),
            static_cast<int>(content_type.size()), content_type.data(),
            body.size(), static_cast<int>(extra_headers.size()),
            extra_headers.data());
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

// Debian's civetweb 1.15 is built for the OpenSSL 1.1 API and loads libssl
// at run time (dlopen). OpenSSL 3 no longer exports SSL_get_peer_certificate
// (it is a macro for SSL_get1_peer_certificate now), so civetweb's table of
// OpenSSL functions keeps a null pointer in that slot and each worker calls
// it after every TLS handshake: a segfault. This fills that one slot with
// the function the macro names (same contract: a new reference, which
// civetweb frees). The table is an array of {const char* name; int
// required; void* function} in civetweb's writable data; it is complete
// once civetweb calls init_ssl, before any connection is accepted.
struct Segment {
  uintptr_t begin, end;
  bool writable;
};

int CollectCivetwebSegments(dl_phdr_info* info, size_t /*size*/, void* out) {
  if (info->dlpi_name == nullptr ||
      std::strstr(info->dlpi_name, "/libcivetweb.so") == nullptr) {
    return 0;
  }
  auto* segments = static_cast<std::vector<Segment>*>(out);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    segments->push_back({begin, begin + ph.p_memsz, (ph.p_flags & PF_W) != 0});
  }
  return 1;
}

absl::Status RepairCivetwebTlsTable() {
  static constexpr char kName[] = "SSL_get_peer_certificate";  // with NUL
  std::vector<Segment> segments;
  dl_iterate_phdr(&CollectCivetwebSegments, &segments);
  const auto is_name = [&](uintptr_t p) {
    for (const Segment& s : segments) {
      if (p >= s.begin && p + sizeof(kName) <= s.end) {
        return std::memcmp(reinterpret_cast<const void*>(p), kName,
                           sizeof(kName)) == 0;
      }
    }
    return false;
  };
  for (const Segment& s : segments) {
    if (!s.writable) continue;
    for (uintptr_t p = (s.begin + 7) & ~uintptr_t{7}; p + 24 <= s.end; p += 8) {
      uintptr_t entry[3];
      std::memcpy(entry, reinterpret_cast<const void*>(p), sizeof(entry));
      if (!is_name(entry[0])) continue;
      if (entry[1] > 16) {
        return absl::FailedPreconditionError(
            "this civetweb's table of OpenSSL functions has an unknown "
            "layout; TLS would crash it");
      }
      if (entry[2] == 0) {
        X509* (*get1)(const SSL*) = &SSL_get1_peer_certificate;
        std::memcpy(reinterpret_cast<void*>(p + 16), &get1, sizeof(get1));
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();  // built for OpenSSL 3 or linked directly: fine
}

// civetweb dlopen()s OpenSSL by the unversioned names, which only the -dev
// package's symlinks provide; without them it fails with a vague error.
absl::Status CheckCivetwebCanLoadOpenSsl() {
  for (const char* name : {"libcrypto.so", "libssl.so"}) {
    if (dlopen(name, RTLD_NOW | RTLD_GLOBAL) == nullptr) {  // kept loaded
      const char* error = dlerror();
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS needs ", name,
          " (civetweb loads OpenSSL by that name; Debian package libssl-dev): ",
          error != nullptr ? error : "dlopen failed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpOptions& options, ScrapeFn scrape) {
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(scrape)));
  const bool tls = server->options_.web.tls.has_value();
  if (tls && mg_check_feature(2) == 0) {
    return absl::FailedPreconditionError(
        "tls_server_config is set but this civetweb has no TLS support");
  }
  if (tls) {
    if (absl::Status s = CheckCivetwebCanLoadOpenSsl(); !s.ok()) return s;
  }
  if (!server->options_.web.basic_auth_users.empty()) {
    server->auth_ = std::make_unique<BasicAuthenticator>(
        server->options_.web.basic_auth_users);
  }
  // A trailing "s" makes civetweb speak TLS on the port.
  const std::string listening_ports =
      absl::StrCat(server->options_.civetweb_port, tls ? "s" : "");
  const char* civet_options[] = {"listening_ports",
                                 listening_ports.c_str(),
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

// civetweb's init_ssl: our settings on its SSL_CTX; 1 = certificate set.
int HttpServer::InitSsl(void* ssl_ctx, void* self) {
  HttpServer* server = static_cast<HttpServer*>(self);
  absl::Status status = RepairCivetwebTlsTable();
  if (status.ok()) {
    status = ConfigureTlsContext(*server->options_.web.tls,
                                 static_cast<ssl_ctx_st*>(ssl_ctx));
  }
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
    const std::string body = SerializeText(scrape_());
    Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    return 200;
  }
  if (uri == "/connections" && options_.connections) {
    const connections::Response r = options_.connections(
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

}  // namespace tcpq
