#include "exporter/web_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tcpq {
namespace {

using ::testing::HasSubstr;

const std::string kDir = TCPQ_FIXTURES_DIR "/web_config";
// tests/fixtures/web_config/users.yml (passwords in that directory's README).
constexpr char kAliceHash[] =
    "$2b$05$NXXYBt0qqtyTpyMC9X/hw.a81bIrZbx4DOKvSn26nAY9CWdW1SJS.";
constexpr char kAlicePassword[] = "correct horse";
constexpr char kBobPassword[] = "battery staple";

std::string ErrorOf(absl::string_view yaml) {
  absl::StatusOr<WebConfig> config = ParseWebConfig(yaml, "/etc/tcpq");
  EXPECT_FALSE(config.ok()) << yaml;
  return std::string(config.status().message());
}

// A temporary config file, removed at the end of the test.
class TempConfig {
 public:
  explicit TempConfig(absl::string_view text) {
    char name[] = "/tmp/tcpq_web_config_test_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
    close(fd);
    path_ = name;
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(WebConfigTest, ValidFixtureResolvesPathsAgainstItsDirectory) {
  absl::StatusOr<WebConfig> config = LoadWebConfig(kDir + "/tls.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert_file, kDir + "/server.crt");
  EXPECT_EQ(config->tls->key_file, kDir + "/server.key");
  EXPECT_EQ(config->tls->client_ca_file, kDir + "/server.crt");
  EXPECT_EQ(config->tls->client_auth, ClientAuth::kVerifyClientCertIfGiven);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls12);
  EXPECT_EQ(config->tls->max_version, TlsVersion::kTls13);
  EXPECT_FALSE(config->tls->prefer_server_cipher_suites);
  EXPECT_TRUE(config->has_http_server_config);
  EXPECT_EQ(config->basic_auth_users.size(), 1u);
  EXPECT_EQ(config->basic_auth_users.at("alice"), kAliceHash);
}

TEST(WebConfigTest, UsersOnlyMeansPlainHttpWithAuth) {
  absl::StatusOr<WebConfig> config = LoadWebConfig(kDir + "/users.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tls.has_value());
  EXPECT_FALSE(config->has_http_server_config);
  EXPECT_EQ(config->basic_auth_users.size(), 2u);
}

TEST(WebConfigTest, EmptyAndNullSectionsAreValid) {
  for (absl::string_view yaml :
       {"", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n",
        "tls_server_config: {min_version: TLS13}\n"}) {
    absl::StatusOr<WebConfig> config = ParseWebConfig(yaml, ".");
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.status();
    EXPECT_FALSE(config->tls.has_value()) << yaml;
    EXPECT_TRUE(config->basic_auth_users.empty()) << yaml;
  }
}

TEST(WebConfigTest, DefaultsAndAbsolutePaths) {
  absl::StatusOr<WebConfig> config = ParseWebConfig(
      "tls_server_config:\n  cert_file: /a/c.pem\n  key_file: k.pem\n",
      "/etc/tcpq");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls->cert_file, "/a/c.pem");
  EXPECT_EQ(config->tls->key_file, "/etc/tcpq/k.pem");
  EXPECT_EQ(config->tls->client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(config->tls->min_version, TlsVersion::kTls12);
  EXPECT_FALSE(config->tls->max_version.has_value());
  EXPECT_TRUE(config->tls->prefer_server_cipher_suites);
}

TEST(WebConfigTest, ClientCaAloneMeansRequireAndVerify) {
  absl::StatusOr<WebConfig> config = ParseWebConfig(
      "tls_server_config: {cert_file: c, key_file: k, client_ca_file: ca}\n",
      "/d");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls->client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(config->tls->client_ca_file, "/d/ca");
}

TEST(WebConfigTest, EveryClientAuthType) {
  const std::pair<const char*, ClientAuth> cases[] = {
      {"NoClientCert", ClientAuth::kNoClientCert},
      {"RequestClientCert", ClientAuth::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
  };
  for (const auto& [name, expected] : cases) {
    const bool needs_ca = expected == ClientAuth::kVerifyClientCertIfGiven ||
                          expected == ClientAuth::kRequireAndVerifyClientCert;
    absl::StatusOr<WebConfig> config = ParseWebConfig(
        absl::StrCat("tls_server_config: {cert_file: c, key_file: k, ",
                     needs_ca ? "client_ca_file: ca, " : "",
                     "client_auth_type: ", name, "}"),
        ".");
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_EQ(config->tls->client_auth, expected) << name;
  }
}

TEST(WebConfigTest, UnknownKeysAreNamed) {
  EXPECT_THAT(ErrorOf("tls_config: {}\n"),
              HasSubstr("unknown key \"tls_config\""));
  EXPECT_THAT(ErrorOf("tls_server_config:\n  cert_file: c\n  keyfile: k\n"),
              HasSubstr("unknown key \"keyfile\" in tls_server_config"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cipher_suites: [x]}\n"),
              HasSubstr("tls_server_config.cipher_suites is not supported"));
  EXPECT_THAT(ErrorOf("basic_auth_users: {}\nbasic_auth_users: {}\n"),
              HasSubstr("key \"basic_auth_users\" given twice"));
}

TEST(WebConfigTest, BadVersionsAreNamed) {
  EXPECT_THAT(ErrorOf("tls_server_config: {min_version: TLS14}\n"),
              HasSubstr("tls_server_config.min_version: unknown TLS version "
                        "\"TLS14\""));
  EXPECT_THAT(ErrorOf("tls_server_config: {max_version: 1.2}\n"),
              HasSubstr("tls_server_config.max_version"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: c, key_file: k, "
                      "min_version: TLS13, max_version: TLS12}\n"),
              HasSubstr("max_version TLS12 is below min_version TLS13"));
}

TEST(WebConfigTest, InconsistentTlsSettingsAreNamed) {
  EXPECT_THAT(ErrorOf("tls_server_config: {key_file: k}\n"),
              HasSubstr("missing cert_file"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: c}\n"),
              HasSubstr("missing key_file"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: c, key_file: k, "
                      "client_auth_type: RequireAndVerifyClientCert}\n"),
              HasSubstr("needs client_ca_file"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: c, key_file: k, "
                      "client_ca_file: ca, client_auth_type: NoClientCert}\n"),
              HasSubstr("client_ca_file is set"));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: c, key_file: k, "
                      "client_auth_type: Sometimes}\n"),
              HasSubstr("client_auth_type: unknown value \"Sometimes\""));
  EXPECT_THAT(ErrorOf("tls_server_config: {cert_file: [a, b]}\n"),
              HasSubstr("tls_server_config.cert_file must be a string"));
}

TEST(WebConfigTest, BadHashesAreNamedWithTheUser) {
  EXPECT_THAT(ErrorOf("basic_auth_users:\n  carol: hunter2\n"),
              HasSubstr("user \"carol\": not a bcrypt hash"));
  // SHA-512 crypt, a valid crypt(3) hash but not bcrypt.
  EXPECT_THAT(ErrorOf("basic_auth_users:\n  carol: $6$salt$abc\n"),
              HasSubstr("not a bcrypt hash"));
  const std::string truncated(kAliceHash, 59);
  EXPECT_THAT(
      ErrorOf(absl::StrCat("basic_auth_users: {carol: ", truncated, "}\n")),
      HasSubstr("not a bcrypt hash"));
  EXPECT_THAT(ErrorOf("basic_auth_users:\n  carol:\n"),
              HasSubstr("not a bcrypt hash"));
  EXPECT_THAT(ErrorOf("basic_auth_users: [carol]\n"),
              HasSubstr("basic_auth_users must be a mapping"));
}

TEST(WebConfigTest, MalformedYamlGivesLineAndColumn) {
  EXPECT_THAT(ErrorOf("tls_server_config:\n  cert_file: [unclosed\n"),
              HasSubstr("YAML error at line"));
  EXPECT_THAT(ErrorOf("- a list\n"), HasSubstr("must be a mapping"));
  EXPECT_THAT(ErrorOf("just text\n"), HasSubstr("must be a mapping"));
}

TEST(WebConfigTest, MissingConfigFile) {
  absl::StatusOr<WebConfig> config = LoadWebConfig(kDir + "/nonexistent.yml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("cannot read --web.config.file"));
  EXPECT_THAT(config.status().message(), HasSubstr("nonexistent.yml"));
  EXPECT_THAT(config.status().message(), HasSubstr("No such file"));
}

TEST(WebConfigTest, MissingOrWrongCertificateFilesFailAtLoad) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::string crt = kDir + "/server.crt";
  const std::string key = kDir + "/server.key";
  const Case cases[] = {
      {"{cert_file: " + kDir + "/missing.crt, key_file: " + key + "}",
       "tls_server_config.cert_file: cannot read: open " + kDir +
           "/missing.crt: No such file"},
      {"{cert_file: " + crt + ", key_file: /nonexistent/missing.key}",
       "tls_server_config.key_file: cannot read"},
      {"{cert_file: " + key + ", key_file: " + key + "}",
       "cert_file \"" + key + "\": no PEM certificate"},
      {"{cert_file: " + crt + ", key_file: " + crt + "}",
       "no unencrypted PEM private key"},
      {"{cert_file: " + crt + ", key_file: " + kDir + "/other.key}",
       "does not match"},
      {"{cert_file: " + crt + ", key_file: " + key +
           ", client_ca_file: /nonexistent.crt}",
       "tls_server_config.client_ca_file: cannot read"},
      {"{cert_file: " + crt + ", key_file: " + key +
           ", client_ca_file: " + key + "}",
       "client_ca_file \"" + key + "\": no PEM certificate"},
  };
  for (const Case& c : cases) {
    TempConfig file(absl::StrCat("tls_server_config: ", c.yaml, "\n"));
    absl::StatusOr<WebConfig> config = LoadWebConfig(file.path());
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(c.error)) << c.yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(file.path())) << c.yaml;
  }
}

TEST(WebConfigTest, ConfigureTlsContextSetsVersionsAndVerifyMode) {
  absl::StatusOr<WebConfig> config = LoadWebConfig(kDir + "/tls.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  config->tls->min_version = TlsVersion::kTls13;
  config->tls->client_auth = ClientAuth::kRequireAndVerifyClientCert;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_NE(ctx, nullptr);
  ASSERT_TRUE(ConfigureTlsContext(*config->tls, ctx).ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx)), 1);
  SSL_CTX_free(ctx);
}

TEST(BcryptTest, HashCheck) {
  EXPECT_TRUE(CheckBcryptHash(kAliceHash).ok());
  EXPECT_FALSE(CheckBcryptHash("").ok());
  EXPECT_FALSE(
      CheckBcryptHash(absl::StrReplaceAll(kAliceHash, {{"$2b$05$", "$2b$03$"}}))
          .ok());
  EXPECT_FALSE(
      CheckBcryptHash(absl::StrReplaceAll(kAliceHash, {{"$2b$05$", "$2x$05$"}}))
          .ok());
  EXPECT_FALSE(
      CheckBcryptHash(absl::StrReplaceAll(kAliceHash, {{".", "!"}})).ok());
}

TEST(BcryptTest, VerifiesEveryPrefix) {
  for (const char* prefix : {"$2a$", "$2b$", "$2y$"}) {
    const std::string hash =
        absl::StrCat(prefix, absl::string_view(kAliceHash).substr(4));
    EXPECT_TRUE(CheckBcryptHash(hash).ok()) << hash;
    EXPECT_TRUE(VerifyBcrypt(kAlicePassword, hash)) << hash;
    EXPECT_FALSE(VerifyBcrypt("correct horse ", hash)) << hash;
    EXPECT_FALSE(VerifyBcrypt("", hash)) << hash;
  }
  // A NUL would otherwise end the password early for crypt(3).
  EXPECT_FALSE(VerifyBcrypt(std::string("correct horse\0x", 15), kAliceHash));
}

constexpr auto kAllowed = BasicAuthenticator::Result::kAllowed;
constexpr auto kDenied = BasicAuthenticator::Result::kDenied;

std::string BasicHeader(absl::string_view user, absl::string_view password) {
  return absl::StrCat("Basic ",
                      absl::Base64Escape(absl::StrCat(user, ":", password)));
}

TEST(BasicAuthTest, ChecksHeaders) {
  absl::StatusOr<WebConfig> config = LoadWebConfig(kDir + "/users.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  BasicAuthenticator auth(config->basic_auth_users);
  EXPECT_EQ(auth.Check(BasicHeader("alice", kAlicePassword).c_str()), kAllowed);
  EXPECT_EQ(auth.Check(BasicHeader("bob", kBobPassword).c_str()), kAllowed);
  // Again, now from the cache.
  EXPECT_EQ(auth.Check(BasicHeader("alice", kAlicePassword).c_str()), kAllowed);
  EXPECT_EQ(auth.Check(absl::StrCat("basic  ",
                                    absl::Base64Escape("alice:correct horse"))
                           .c_str()),
            kAllowed);
  // A password may contain ':'; only the first one separates the user.
  EXPECT_EQ(auth.Check(BasicHeader("alice", "correct horse:").c_str()),
            kDenied);

  EXPECT_EQ(auth.Check(nullptr), kDenied);
  EXPECT_EQ(auth.Check(""), kDenied);
  EXPECT_EQ(auth.Check("Basic"), kDenied);
  EXPECT_EQ(auth.Check("Basic !!!notbase64"), kDenied);
  EXPECT_EQ(
      auth.Check(absl::StrCat("Basic ", absl::Base64Escape("alice")).c_str()),
      kDenied);
  EXPECT_EQ(auth.Check(absl::StrCat("Bearer ",
                                    absl::Base64Escape("alice:correct horse"))
                           .c_str()),
            kDenied);
  EXPECT_EQ(auth.Check(BasicHeader("alice", kBobPassword).c_str()), kDenied);
  EXPECT_EQ(auth.Check(BasicHeader("bob", kAlicePassword).c_str()), kDenied);
  EXPECT_EQ(auth.Check(BasicHeader("mallory", kAlicePassword).c_str()),
            kDenied);
  EXPECT_EQ(auth.Check(BasicHeader("", "").c_str()), kDenied);
}

TEST(BasicAuthTest, CacheIsBounded) {
  BasicAuthenticator auth(
      {{"alice", kAliceHash}, {"alice2", kAliceHash}, {"alice3", kAliceHash}},
      /*cache_capacity=*/2);
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
  EXPECT_EQ(auth.CheckUserPassword("alice2", kAlicePassword), kAllowed);
  EXPECT_EQ(auth.CachedForTest(), 2u);
  EXPECT_EQ(auth.CheckUserPassword("alice3", kAlicePassword), kAllowed);
  EXPECT_LE(auth.CachedForTest(), 2u);
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
  EXPECT_LE(auth.CachedForTest(), 2u);
}

TEST(BasicAuthTest, CacheHoldsOnlySuccessesKeyedByPassword) {
  BasicAuthenticator auth(
      std::map<std::string, std::string>{{"alice", kAliceHash}});
  // Many distinct wrong passwords never get cached as right.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(auth.CheckUserPassword("alice", absl::StrCat("wrong", i)),
              kDenied);
  }
  EXPECT_EQ(auth.CachedForTest(), 0u);
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
  EXPECT_EQ(auth.CachedForTest(), 1u);
  EXPECT_EQ(auth.CheckUserPassword("alice", "correct hors"), kDenied);
  EXPECT_EQ(auth.CheckUserPassword("alic", kAlicePassword), kDenied);
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
}

TEST(BasicAuthTest, AWrongPasswordAgainCostsNoBcrypt) {
  BasicAuthenticator auth(
      std::map<std::string, std::string>{{"alice", kAliceHash}});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth.CheckUserPassword("alice", "guess"), kDenied);
    EXPECT_EQ(auth.CheckUserPassword("mallory", "guess"), kDenied);
  }
  EXPECT_EQ(auth.BcryptsForTest(), 2u);
  // Remembered per password: the right one is still checked, and then
  // cached.
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
  EXPECT_EQ(auth.CheckUserPassword("alice", kAlicePassword), kAllowed);
  EXPECT_EQ(auth.BcryptsForTest(), 3u);
}

}  // namespace
}  // namespace tcpq
