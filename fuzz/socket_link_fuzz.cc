// libFuzzer target: the parser of /proc/<pid>/fd link text.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "procfs/socket_owner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view link(reinterpret_cast<const char*>(data), size);
  if (auto inode = tcpq::procfs::ParseSocketLink(link)) {
    // What parses is a socket link whose number prints back to itself.
    if (link.substr(0, 8) != "socket:[" ||
        tcpq::procfs::ParseSocketLink(absl::StrCat("socket:[", *inode, "]")) !=
            inode)
      __builtin_trap();
  }
  return 0;
}
