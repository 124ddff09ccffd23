// libFuzzer target for the sock_diag reply parser: any byte string, including
// truncated or lying length fields, must yield a status or a parse, never a
// crash, an out-of-bounds read or undefined behaviour. Seeds are the recorded
// kernel replies in fuzz/corpus/inet_diag/.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "procfs/inet_diag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<tcpq::procfs::InetDiagSocket> out;
  absl::StatusOr<bool> done = tcpq::procfs::ParseInetDiagReply(
      std::span<const uint8_t>(data, size), out);
  // Each socket needs at least a header and an inet_diag_msg.
  if (out.size() > size / 88) __builtin_trap();
  if (done.ok() && *done && size == 0) __builtin_trap();
  return 0;
}
