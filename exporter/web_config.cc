#include "exporter/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "exporter/log.h"
#include "procfs/proc_file.h"

namespace tcpq {
namespace {

// A bcrypt hash of a random password nobody knows: an unknown user costs the
// same bcrypt run as a known one, so timing does not tell users apart.
constexpr char kDummyHash[] =
    "$2b$10$p9MocunEW8.8GFLYPREn..5fT5eNOyM/QENJh27SbZCW/AY2ie0MK";

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// Calls `fn` for each entry of the mapping `node` (null: none). Keys must be
// strings and unique: yaml-cpp keeps duplicates, Go's strict YAML rejects
// them.
absl::Status ForEachEntry(
    const YAML::Node& node, absl::string_view where,
    const std::function<absl::Status(const std::string&, const YAML::Node&)>&
        fn) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Invalid(absl::StrCat(where, " must be a mapping"));
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return Invalid(absl::StrCat(where, ": keys must be strings"));
    }
    const std::string& key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      return Invalid(absl::StrCat("key \"", key, "\" given twice in ", where));
    }
    if (absl::Status s = fn(key, entry.second); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ScalarString(const YAML::Node& node,
                                         absl::string_view name) {
  if (node.IsNull()) return std::string();
  if (!node.IsScalar()) return Invalid(absl::StrCat(name, " must be a string"));
  return node.Scalar();
}

std::string ResolvePath(const std::string& path, absl::string_view base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

absl::StatusOr<TlsVersion> ParseTlsVersion(const std::string& text,
                                           absl::string_view name) {
  if (text == "TLS10") return TlsVersion::kTls10;
  if (text == "TLS11") return TlsVersion::kTls11;
  if (text == "TLS12") return TlsVersion::kTls12;
  if (text == "TLS13") return TlsVersion::kTls13;
  return Invalid(absl::StrCat(name, ": unknown TLS version \"", text,
                              "\" (TLS10, TLS11, TLS12 or TLS13)"));
}

absl::StatusOr<ClientAuth> ParseClientAuth(const std::string& text) {
  if (text.empty() || text == "NoClientCert") return ClientAuth::kNoClientCert;
  if (text == "RequestClientCert") return ClientAuth::kRequestClientCert;
  if (text == "RequireAnyClientCert") return ClientAuth::kRequireAnyClientCert;
  if (text == "VerifyClientCertIfGiven") {
    return ClientAuth::kVerifyClientCertIfGiven;
  }
  if (text == "RequireAndVerifyClientCert") {
    return ClientAuth::kRequireAndVerifyClientCert;
  }
  return Invalid(
      absl::StrCat("tls_server_config.client_auth_type: unknown value \"", text,
                   "\" (NoClientCert, RequestClientCert, RequireAnyClientCert, "
                   "VerifyClientCertIfGiven or RequireAndVerifyClientCert)"));
}

// Returns the TLS config, or nullopt when no file and no client auth are
// set (the toolkit then serves plain HTTP).
absl::StatusOr<std::optional<TlsServerConfig>> ParseTls(
    const YAML::Node& node, absl::string_view base_dir) {
  TlsServerConfig tls;
  std::string client_auth_type;
  std::string min_version, max_version;
  absl::Status status = ForEachEntry(
      node, "tls_server_config",
      [&](const std::string& key, const YAML::Node& value) -> absl::Status {
        const std::string name = absl::StrCat("tls_server_config.", key);
        std::string* target = key == "cert_file"          ? &tls.cert_file
                              : key == "key_file"         ? &tls.key_file
                              : key == "client_ca_file"   ? &tls.client_ca_file
                              : key == "client_auth_type" ? &client_auth_type
                              : key == "min_version"      ? &min_version
                              : key == "max_version"      ? &max_version
                                                          : nullptr;
        if (target != nullptr) {
          absl::StatusOr<std::string> text = ScalarString(value, name);
          if (!text.ok()) return text.status();
          *target = *std::move(text);
          return absl::OkStatus();
        }
        if (key == "prefer_server_cipher_suites") {
          if (value.IsNull()) return absl::OkStatus();
          if (!value.IsScalar() ||
              !YAML::convert<bool>::decode(value,
                                           tls.prefer_server_cipher_suites)) {
            return Invalid(absl::StrCat(name, " must be true or false"));
          }
          return absl::OkStatus();
        }
        // Known to the toolkit, but not implemented here: refusing them is
        // safer than serving with weaker settings than the file asks for.
        for (const char* unsupported :
             {"cert", "key", "client_ca", "cipher_suites", "curve_preferences",
              "client_allowed_sans"}) {
          if (key == unsupported) {
            return Invalid(
                absl::StrCat(name, " is not supported by tcpq_exporter"));
          }
        }
        return Invalid(
            absl::StrCat("unknown key \"", key, "\" in tls_server_config"));
      });
  if (!status.ok()) return status;

  absl::StatusOr<ClientAuth> client_auth = ParseClientAuth(client_auth_type);
  if (!client_auth.ok()) return client_auth.status();
  tls.client_auth = *client_auth;
  if (!min_version.empty()) {
    absl::StatusOr<TlsVersion> v =
        ParseTlsVersion(min_version, "tls_server_config.min_version");
    if (!v.ok()) return v.status();
    tls.min_version = *v;
  }
  if (!max_version.empty()) {
    absl::StatusOr<TlsVersion> v =
        ParseTlsVersion(max_version, "tls_server_config.max_version");
    if (!v.ok()) return v.status();
    tls.max_version = *v;
    if (*tls.max_version < tls.min_version) {
      return Invalid(absl::StrCat("tls_server_config: max_version ",
                                  max_version, " is below min_version ",
                                  min_version.empty() ? "TLS12" : min_version));
    }
  }

  if (tls.cert_file.empty() && tls.key_file.empty() &&
      tls.client_ca_file.empty() && client_auth_type.empty()) {
    return std::optional<TlsServerConfig>();
  }
  if (tls.cert_file.empty()) {
    return Invalid("tls_server_config: missing cert_file");
  }
  if (tls.key_file.empty()) {
    return Invalid("tls_server_config: missing key_file");
  }
  if (!tls.client_ca_file.empty() && client_auth_type.empty()) {
    // As the toolkit: a client CA alone means verified client certificates.
    tls.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  }
  if (!tls.client_ca_file.empty() &&
      tls.client_auth == ClientAuth::kNoClientCert) {
    return Invalid(
        "tls_server_config: client_ca_file is set but client_auth_type is "
        "NoClientCert");
  }
  if (tls.client_ca_file.empty() &&
      (tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
       tls.client_auth == ClientAuth::kRequireAndVerifyClientCert)) {
    return Invalid(absl::StrCat("tls_server_config: client_auth_type ",
                                client_auth_type, " needs client_ca_file"));
  }
  tls.cert_file = ResolvePath(tls.cert_file, base_dir);
  tls.key_file = ResolvePath(tls.key_file, base_dir);
  tls.client_ca_file = ResolvePath(tls.client_ca_file, base_dir);
  return std::optional<TlsServerConfig>(std::move(tls));
}

absl::StatusOr<WebConfig> ParseRoot(const YAML::Node& root,
                                    absl::string_view base_dir) {
  WebConfig config;
  absl::Status status = ForEachEntry(
      root, "the web config",
      [&](const std::string& key, const YAML::Node& value) -> absl::Status {
        if (key == "tls_server_config") {
          absl::StatusOr<std::optional<TlsServerConfig>> tls =
              ParseTls(value, base_dir);
          if (!tls.ok()) return tls.status();
          config.tls = *std::move(tls);
          return absl::OkStatus();
        }
        if (key == "http_server_config") {
          config.has_http_server_config = true;
          return absl::OkStatus();
        }
        if (key == "basic_auth_users") {
          return ForEachEntry(
              value, "basic_auth_users",
              [&](const std::string& user,
                  const YAML::Node& hash_node) -> absl::Status {
                const std::string name =
                    absl::StrCat("basic_auth_users: user \"", user, "\"");
                absl::StatusOr<std::string> hash =
                    ScalarString(hash_node, name);
                if (!hash.ok()) return hash.status();
                if (absl::Status s = CheckBcryptHash(*hash); !s.ok()) {
                  return Invalid(absl::StrCat(name, ": ", s.message()));
                }
                config.basic_auth_users[user] = *std::move(hash);
                return absl::OkStatus();
              });
        }
        return Invalid(absl::StrCat("unknown key \"", key,
                                    "\" (expected tls_server_config, "
                                    "http_server_config, basic_auth_users)"));
      });
  if (!status.ok()) return status;
  return config;
}

// "PEM routines: no start line" for the oldest queued OpenSSL error; clears
// the queue.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* lib = ERR_lib_error_string(code);
  const char* reason = ERR_reason_error_string(code);
  return absl::StrCat(
      lib != nullptr ? lib : "OpenSSL", ": ",
      reason != nullptr ? reason : absl::StrCat("error ", code));
}

absl::Status CheckReadable(absl::string_view name, const std::string& path) {
  absl::StatusOr<std::string> content = procfs::ReadFile(path);
  if (!content.ok()) {
    return Invalid(absl::StrCat("tls_server_config.", name,
                                ": cannot read: ", content.status().message()));
  }
  return absl::OkStatus();
}

int AcceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*store*/) {
  return 1;
}

// Never prompt on the terminal for the passphrase of an encrypted key.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return 0;
}

// Failed TLS handshakes, logged as one line per kind (OpenSSL's reason) per
// minute at most, with how many there were: scanners, probes that connect
// and close, and misconfigured clients must not flood the log, and a
// certificate problem must not go unseen either.
class HandshakeFailures {
 public:
  void Count(absl::string_view reason) {
    absl::MutexLock lock(&mu_);
    Kind& kind = kinds_[reason];
    ++kind.count;
    const absl::Time now = absl::Now();
    if (now - kind.last_log < absl::Minutes(1)) return;
    log::Warn("tls handshake failed", {{"reason", std::string(reason)},
                                       {"count", absl::StrCat(kind.count)},
                                       {"interval", "1m"}});
    kind.count = 0;
    kind.last_log = now;
  }

 private:
  struct Kind {
    uint64_t count = 0;  // since its last line
    absl::Time last_log = absl::InfinitePast();
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Kind> kinds_ ABSL_GUARDED_BY(mu_);
};

HandshakeFailures& Failures() {
  static HandshakeFailures* failures = new HandshakeFailures();
  return *failures;
}

// OpenSSL's info callback on the server: at the end of a failed handshake.
// A plain HTTP request on the TLS port fails it with SSL_R_HTTP_REQUEST
// once OpenSSL has read "GET " or the like; it gets a 400 written on the
// raw socket, as Go's server (and so the exporter-toolkit) answers, instead
// of a closed connection with no word.
void OnHandshakeEvent(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ACCEPT_EXIT) == 0 || ret > 0) return;
  if (SSL_get_error(ssl, ret) != SSL_ERROR_SSL) return;  // e.g. WANT_READ
  const unsigned long error = ERR_peek_last_error();
  const char* reason = ERR_reason_error_string(error);
  Failures().Count(reason != nullptr ? reason : "unknown");
  if (ERR_GET_LIB(error) != ERR_LIB_SSL ||
      ERR_GET_REASON(error) != SSL_R_HTTP_REQUEST) {
    return;
  }
  static constexpr char kReply[] =
      "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; "
      "charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP "
      "request to an HTTPS server.\n";
  const int fd = SSL_get_fd(ssl);
  if (fd >= 0) ::send(fd, kReply, sizeof(kReply) - 1, MSG_NOSIGNAL);
}

}  // namespace

absl::StatusOr<WebConfig> ParseWebConfig(absl::string_view yaml,
                                         absl::string_view base_dir) {
  // yaml-cpp reports errors by exceptions; none leaves this module.
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return ParseRoot(root, base_dir);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return Invalid(absl::StrCat("YAML: ", e.msg));
    return Invalid(absl::StrCat("YAML error at line ", e.mark.line + 1,
                                ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return Invalid(absl::StrCat("YAML: ", e.what()));
  }
}

absl::StatusOr<WebConfig> LoadWebConfig(const std::string& path) {
  absl::StatusOr<std::string> text = procfs::ReadFile(path);
  if (!text.ok()) {
    return Invalid(absl::StrCat("cannot read --web.config.file: ",
                                text.status().message()));
  }
  const size_t slash = path.rfind('/');
  const std::string base_dir =
      slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  absl::StatusOr<WebConfig> config = ParseWebConfig(*text, base_dir);
  if (!config.ok()) {
    return Invalid(absl::StrCat(path, ": ", config.status().message()));
  }
  if (config->tls.has_value()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) {
      return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslError()));
    }
    absl::Status status = ConfigureTlsContext(*config->tls, ctx);
    SSL_CTX_free(ctx);
    if (!status.ok()) {
      return Invalid(absl::StrCat(path, ": ", status.message()));
    }
  }
  return config;
}

absl::Status ConfigureTlsContext(const TlsServerConfig& tls, SSL_CTX* ctx) {
  ERR_clear_error();
  SSL_CTX_set_info_callback(ctx, &OnHandshakeEvent);
  SSL_CTX_set_default_passwd_cb(ctx, &NoPassphrase);
  // Versions by min/max only: drop civetweb's own SSL_OP_NO_* choices.
  SSL_CTX_clear_options(ctx, SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                                 SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 |
                                 SSL_OP_NO_TLSv1_3);
  if (SSL_CTX_set_min_proto_version(ctx, static_cast<int>(tls.min_version)) !=
          1 ||
      SSL_CTX_set_max_proto_version(
          ctx, tls.max_version ? static_cast<int>(*tls.max_version) : 0) != 1) {
    return Invalid(absl::StrCat(
        "tls_server_config: cannot set the TLS versions: ", OpenSslError()));
  }
  if (tls.prefer_server_cipher_suites) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }

  if (absl::Status s = CheckReadable("cert_file", tls.cert_file); !s.ok()) {
    return s;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return Invalid(absl::StrCat("tls_server_config.cert_file \"", tls.cert_file,
                                "\": no PEM certificate: ", OpenSslError()));
  }
  if (absl::Status s = CheckReadable("key_file", tls.key_file); !s.ok()) {
    return s;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Invalid(absl::StrCat("tls_server_config.key_file \"", tls.key_file,
                                  "\" does not match cert_file \"",
                                  tls.cert_file, "\""));
    }
    return Invalid(
        absl::StrCat("tls_server_config.key_file \"", tls.key_file,
                     "\": no unencrypted PEM private key: ", OpenSslError()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return Invalid(absl::StrCat("tls_server_config.key_file \"", tls.key_file,
                                "\" does not match cert_file \"", tls.cert_file,
                                "\""));
  }

  if (!tls.client_ca_file.empty()) {
    if (absl::Status s = CheckReadable("client_ca_file", tls.client_ca_file);
        !s.ok()) {
      return s;
    }
    STACK_OF(X509_NAME)* names =
        SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr ||
        SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(),
                                      nullptr) != 1) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      return Invalid(absl::StrCat("tls_server_config.client_ca_file \"",
                                  tls.client_ca_file,
                                  "\": no PEM certificate: ", OpenSslError()));
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  }
  switch (tls.client_auth) {
    case ClientAuth::kNoClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &AcceptAnyCertificate);
      break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         &AcceptAnyCertificate);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         nullptr);
      break;
  }
  // Session resumption with client certificates needs a session id context.
  static constexpr unsigned char kSessionContext[] = "tcpq_exporter";
  SSL_CTX_set_session_id_context(ctx, kSessionContext,
                                 sizeof(kSessionContext) - 1);
  return absl::OkStatus();
}

absl::Status CheckBcryptHash(absl::string_view hash) {
  // $2b$10$ + 22 characters of salt + 31 of hash, in bcrypt's base64.
  constexpr absl::string_view kAlphabet =
      "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bool prefix_ok = absl::StartsWith(hash, "$2a$") ||
                         absl::StartsWith(hash, "$2b$") ||
                         absl::StartsWith(hash, "$2y$");
  bool ok = prefix_ok && hash.size() == 60 && absl::ascii_isdigit(hash[4]) &&
            absl::ascii_isdigit(hash[5]) && hash[6] == '$';
  if (ok) {
    const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    ok = cost >= 4 && cost <= 31 &&
         hash.substr(7).find_first_not_of(kAlphabet) == absl::string_view::npos;
  }
  if (!ok) {
    return Invalid(
        "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters)");
  }
  if (crypt_checksalt(std::string(hash).c_str()) != CRYPT_SALT_OK) {
    return Invalid("bcrypt hash rejected by libcrypt");
  }
  return absl::OkStatus();
}

bool VerifyBcrypt(absl::string_view password, const std::string& hash) {
  // crypt_r takes a C string: a NUL would cut the password short.
  if (password.find('\0') != absl::string_view::npos) return false;
  auto data = std::make_unique<crypt_data>();  // zeroed: "initialized = 0"
  const std::string key(password);
  const char* result = crypt_r(key.c_str(), hash.c_str(), data.get());
  const bool match = result != nullptr && result[0] != '*' &&
                     std::strlen(result) == hash.size() &&
                     CRYPTO_memcmp(result, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return match;
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users,
                                       size_t cache_capacity)
    : users_(std::move(users)), cache_capacity_(cache_capacity) {
  bcrypt_thread_.Run([] {
    const sched_param param{};
    if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
    }
  });
}

BasicAuthenticator::Result BasicAuthenticator::Check(const char* authorization,
                                                     absl::string_view client) {
  if (authorization == nullptr) return Result::kDenied;
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (value.size() < 6 ||
      !absl::EqualsIgnoreCase(value.substr(0, 5), "Basic") || value[5] != ' ') {
    return Result::kDenied;
  }
  value = absl::StripLeadingAsciiWhitespace(value.substr(6));
  std::string decoded;
  if (!absl::Base64Unescape(value, &decoded)) return Result::kDenied;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return Result::kDenied;
  return CheckUserPassword(absl::string_view(decoded).substr(0, colon),
                           absl::string_view(decoded).substr(colon + 1),
                           client);
}

BasicAuthenticator::Result BasicAuthenticator::CheckUserPassword(
    absl::string_view user, absl::string_view password,
    absl::string_view client) {
  const auto it = users_.find(std::string(user));
  const bool known = it != users_.end();
  const std::string hash = known ? it->second : kDummyHash;

  const std::string material = absl::StrCat(user.size(), ":", user, ":",
                                            hash.size(), ":", hash, password);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(material.data(), material.size(), digest, &digest_size,
                 EVP_sha256(), nullptr) != 1) {
    return Refuse(Result::kDenied, user, client);
  }
  const std::string key(reinterpret_cast<const char*>(digest), digest_size);
  bool failed_recently = false;
  {
    absl::MutexLock lock(&mu_);
    // Only successes are cached there, so a hit is a known user.
    if (verified_.contains(key)) return Result::kAllowed;
    const auto failed = failed_.find(key);
    failed_recently = failed != failed_.end() && failed->second > absl::Now();
  }
  if (failed_recently) return Refuse(Result::kDenied, user, client);
  if (!bcrypt_.TryLock()) return Refuse(Result::kBusy, user, client);
  bool matches = false;
  bcrypt_thread_.Run([&] { matches = VerifyBcrypt(password, hash); });
  const bool ok = matches && known;
  bcrypt_.Unlock();
  {
    absl::MutexLock lock(&mu_);
    ++bcrypts_;
    // Full: start over. Cheap, and a legitimate scraper re-enters at once.
    if (ok) {
      if (verified_.size() >= cache_capacity_) verified_.clear();
      verified_.insert(key);
      return Result::kAllowed;
    }
    if (failed_.size() >= cache_capacity_) failed_.clear();
    failed_[key] = absl::Now() + kFailureMemory;
  }
  return Refuse(Result::kDenied, user, client);
}

BasicAuthenticator::Result BasicAuthenticator::Refuse(
    Result result, absl::string_view user, absl::string_view client) {
  absl::MutexLock lock(&mu_);
  ++(result == Result::kBusy ? busy_ : failures_);
  const absl::Time now = absl::Now();
  if (now - last_log_ < kLogInterval) return result;
  log::Warn("basic auth refused",
            {{"failures", absl::StrCat(failures_)},
             {"busy", absl::StrCat(busy_)},
             {"last_user", std::string(user.substr(0, 64))},
             {"last_client", std::string(client)},
             {"interval", absl::FormatDuration(kLogInterval)}});
  failures_ = 0;
  busy_ = 0;
  last_log_ = now;
  return result;
}

}  // namespace tcpq
