// One bcrypt check at cost 10, the price of a basic-auth request whose
// password is not in the exporter's cache (exporter/web_config.h).
//   build/bench/bcrypt_bench
// Through libcrypt directly, as the exporter checks it (crypt_r).

#include <benchmark/benchmark.h>
#include <crypt.h>

#include <cstring>
#include <string>

namespace {

void BcryptCost10(benchmark::State& state) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 10, nullptr, 0, salt, sizeof(salt)) == nullptr) {
    state.SkipWithError("crypt_gensalt_rn failed");
    return;
  }
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* hash = crypt_r("secret", salt, &data);
  if (hash == nullptr || hash[0] == '*') {
    state.SkipWithError("crypt_r failed");
    return;
  }
  const std::string setting = hash;
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypt_r("secret", setting.c_str(), &data));
  }
}
BENCHMARK(BcryptCost10)->Unit(benchmark::kMillisecond);

}  // namespace
