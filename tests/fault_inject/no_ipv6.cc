// LD_PRELOAD fault injection for the integration tests: socket(AF_INET6, ...)
// fails with EAFNOSUPPORT, as on a kernel booted with ipv6.disable=1 (which
// a test cannot reboot into). Every other socket goes on to libc.

#include <dlfcn.h>
#include <sys/socket.h>

#include <cerrno>

extern "C" int socket(int domain, int type, int protocol) {
  if (domain == AF_INET6) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  using SocketFn = int (*)(int, int, int);
  static const auto next =
      reinterpret_cast<SocketFn>(dlsym(RTLD_NEXT, "socket"));
  return next(domain, type, protocol);
}
