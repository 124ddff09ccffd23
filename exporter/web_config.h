#pragma once

// --web.config.file: the Prometheus exporter-toolkit web configuration
// (tls_server_config, basic_auth_users with bcrypt hashes), read at startup.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace tcpq {

// The toolkit's client_auth_type values, with Go's crypto/tls meaning.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // asked for, not required, not verified
  kRequireAnyClientCert,        // required, not verified
  kVerifyClientCertIfGiven,     // not required, verified against the CA
  kRequireAndVerifyClientCert,  // required and verified against the CA
};

// Protocol versions as on the wire (equal to OpenSSL's TLS1_x_VERSION).
enum class TlsVersion {
  kTls10 = 0x0301,
  kTls11 = 0x0302,
  kTls12 = 0x0303,
  kTls13 = 0x0304,
};

struct TlsServerConfig {
  // Paths, relative ones resolved against the config file's directory.
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key, unencrypted
  std::string client_ca_file;  // PEM CAs for client certificates; may be empty
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;  // the toolkit's default
  std::optional<TlsVersion> max_version;        // none: the highest known
  bool prefer_server_cipher_suites = true;
};

struct WebConfig {
  std::optional<TlsServerConfig> tls;                   // none: plain HTTP
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt
  bool has_http_server_config = false;                  // present, and ignored
};

// Parses the YAML text of a web config. Unknown keys are errors naming the
// key (the toolkit is strict), as are bad versions, client auth types and
// hashes that are not bcrypt. `base_dir` resolves relative file paths. Files
// are not read here.
absl::StatusOr<WebConfig> ParseWebConfig(absl::string_view yaml,
                                         absl::string_view base_dir);

// Reads and parses `path`, then loads the certificate, key and client CA into
// a throwaway SSL context, so a missing or mismatched file is reported at
// startup rather than by the first TLS handshake.
absl::StatusOr<WebConfig> LoadWebConfig(const std::string& path);

// Sets up a server SSL_CTX (civetweb's, from its init_ssl callback):
// certificate chain, key, protocol versions, client CA and verify mode.
absl::Status ConfigureTlsContext(const TlsServerConfig& tls, ssl_ctx_st* ctx);

// OK if `hash` is a bcrypt hash ($2a$, $2b$, $2y$) that libcrypt accepts.
absl::Status CheckBcryptHash(absl::string_view hash);

// Whether `password` matches the bcrypt `hash` (crypt_r, constant-time
// comparison of the result).
bool VerifyBcrypt(absl::string_view password, const std::string& hash);

// HTTP basic authentication against basic_auth_users. bcrypt is slow by
// design (about 50 ms at cost 10), so successful checks are remembered, keyed
// by a SHA-256 of user, hash and password, in a bounded cache as the toolkit
// does. Thread-safe.
class BasicAuthenticator {
 public:
  static constexpr size_t kCacheCapacity = 1024;

  explicit BasicAuthenticator(std::map<std::string, std::string> users,
                              size_t cache_capacity = kCacheCapacity);

  // `authorization`: the Authorization header's value, or null if absent.
  bool Check(const char* authorization);
  bool CheckUserPassword(absl::string_view user, absl::string_view password);

  size_t CachedForTest() {
    absl::MutexLock lock(&mu_);
    return verified_.size();
  }

 private:
  const std::map<std::string, std::string> users_;
  const size_t cache_capacity_;
  absl::Mutex mu_;
  std::unordered_set<std::string> verified_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcpq
