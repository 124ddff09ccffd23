#include "procfs/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("open ", path, ": ", std::strerror(err));
    if (err == ENOENT || err == ESRCH) return absl::NotFoundError(msg);
    return absl::UnavailableError(msg);
  }
  std::string content;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("read ", path, ": ", std::strerror(errno)));
    }
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

}  // namespace tcpq::procfs
