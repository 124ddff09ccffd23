// LD_PRELOAD fault injection for the integration tests: open() and openat()
// of any path containing the substring in TCPQ_DENY_OPEN fail with EACCES,
// as when a security module or a masked /proc hides a file. Everything else
// goes on to libc; the real exporter binary runs unchanged.

#include <dlfcn.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

namespace {

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);

bool Denied(const char* path) {
  const char* pattern = std::getenv("TCPQ_DENY_OPEN");
  return pattern != nullptr && *pattern != '\0' && path != nullptr &&
         std::strstr(path, pattern) != nullptr;
}

// libc's open() and open64() behind ours.
int Open(const char* symbol, const char* path, int flags, mode_t mode) {
  if (Denied(path)) {
    errno = EACCES;
    return -1;
  }
  return reinterpret_cast<OpenFn>(dlsym(RTLD_NEXT, symbol))(path, flags, mode);
}

}  // namespace

// The mode argument exists only with O_CREAT or O_TMPFILE.
#define TCPQ_MODE_ARG(flags, mode)              \
  mode_t mode = 0;                              \
  if (((flags) & (O_CREAT | O_TMPFILE)) != 0) { \
    va_list args;                               \
    va_start(args, flags);                      \
    mode = va_arg(args, mode_t);                \
    va_end(args);                               \
  }

extern "C" {

int open(const char* path, int flags, ...) {
  TCPQ_MODE_ARG(flags, mode)
  return Open("open", path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  TCPQ_MODE_ARG(flags, mode)
  return Open("open64", path, flags, mode);
}

int openat(int dir_fd, const char* path, int flags, ...) {
  TCPQ_MODE_ARG(flags, mode)
  if (Denied(path)) {
    errno = EACCES;
    return -1;
  }
  return reinterpret_cast<OpenatFn>(dlsym(RTLD_NEXT, "openat"))(dir_fd, path,
                                                                flags, mode);
}

}  // extern "C"
