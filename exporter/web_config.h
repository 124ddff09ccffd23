#pragma once

// --web.config.file: the Prometheus exporter-toolkit web configuration
// (tls_server_config, basic_auth_users with bcrypt hashes), read at startup.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "procfs/job_thread.h"

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
// design (about 50 ms at cost 10), so a flood of guesses must not take the
// CPU from the scrapes:
// - successful checks are remembered, keyed by a SHA-256 of user, hash and
//   password, in a bounded cache as the toolkit does;
// - failed ones too, for kFailureMemory: the same wrong password again
//   costs no bcrypt;
// - one bcrypt runs at a time (one core at most), on a thread of its own at
//   SCHED_IDLE (nice 19 where that is refused), so a flood of guesses gets
//   only the CPU the scrapes leave; a check that would need another while
//   one runs gets kBusy at once (HTTP 429), without a bcrypt;
// - failures are logged as one summary line per kLogInterval at most.
// Thread-safe.
class BasicAuthenticator {
 public:
  static constexpr size_t kCacheCapacity = 1024;
  static constexpr absl::Duration kFailureMemory = absl::Seconds(10);
  static constexpr absl::Duration kLogInterval = absl::Seconds(60);

  enum class Result { kAllowed, kDenied, kBusy };

  explicit BasicAuthenticator(std::map<std::string, std::string> users,
                              size_t cache_capacity = kCacheCapacity);

  // `authorization`: the Authorization header's value, or null if absent;
  // `client`: who sent it, for the log.
  Result Check(const char* authorization, absl::string_view client = "");
  Result CheckUserPassword(absl::string_view user, absl::string_view password,
                           absl::string_view client = "");

  size_t CachedForTest() {
    absl::MutexLock lock(&mu_);
    return verified_.size();
  }
  uint64_t BcryptsForTest() {
    absl::MutexLock lock(&mu_);
    return bcrypts_;
  }

 private:
  // Counts a refusal and logs the count, once per kLogInterval at most.
  Result Refuse(Result result, absl::string_view user,
                absl::string_view client);

  const std::map<std::string, std::string> users_;
  const size_t cache_capacity_;
  absl::Mutex bcrypt_;  // held while a bcrypt runs
  // Where bcrypt runs. A thread that lowered its priority may not raise it
  // again without CAP_SYS_NICE, hence a thread that stays low.
  procfs::JobThread bcrypt_thread_;
  absl::Mutex mu_;
  std::unordered_set<std::string> verified_ ABSL_GUARDED_BY(mu_);
  // Failed keys and when they are forgotten.
  absl::flat_hash_map<std::string, absl::Time> failed_ ABSL_GUARDED_BY(mu_);
  // Refusals since the last summary line (wrong credentials; checks turned
  // away while a bcrypt ran), and when that line was.
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t busy_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bcrypts_ ABSL_GUARDED_BY(mu_) = 0;  // run since start
  absl::Time last_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tcpq
