// What reading the same /proc files every scrape costs (the reason
// procfs/namespace_files.h keeps them open), and the system calls around
// it: a /proc/net or /proc/sys file opened, read and closed each time
// against one kept open and re-read with pread; setns between two network
// namespaces (needs root); a null system call.
//   build/bench/proc_read_bench
// The operations are written out here, not called through NamespaceFiles:
// that class is the exporter's, and its interface may change.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace {

constexpr size_t kBufferSize = 64 * 1024;  // any of these files is smaller

// One read of the whole file into `buffer`, as the exporter does it; -1 on
// error.
ssize_t ReadWhole(int fd, char* buffer) {
  return ::pread(fd, buffer, kBufferSize, /*offset=*/0);
}

void OpenReadClose(benchmark::State& state, const char* path) {
  static char buffer[kBufferSize];
  ssize_t n = 0;
  for (auto _ : state) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : ReadWhole(fd, buffer);
    if (fd >= 0) ::close(fd);
    if (n < 0) {
      state.SkipWithError(std::strerror(errno));
      return;
    }
  }
  state.counters["bytes"] = static_cast<double>(n);
}

void KeptPread(benchmark::State& state, const char* path) {
  static char buffer[kBufferSize];
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    state.SkipWithError(std::strerror(errno));
    return;
  }
  ssize_t n = ReadWhole(fd, buffer);  // the first read of a file is a fresh one
  for (auto _ : state) {
    n = ReadWhole(fd, buffer);
    if (n < 0) break;
  }
  if (n < 0) state.SkipWithError(std::strerror(errno));
  ::close(fd);
  state.counters["bytes"] = static_cast<double>(n);
}

void OpenClose(benchmark::State& state, const char* path) {
  for (auto _ : state) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      state.SkipWithError(std::strerror(errno));
      return;
    }
    ::close(fd);
  }
}

constexpr char kNetstat[] = "/proc/thread-self/net/netstat";
constexpr char kSnmp[] = "/proc/thread-self/net/snmp";
constexpr char kSomaxconn[] = "/proc/sys/net/core/somaxconn";

BENCHMARK_CAPTURE(OpenReadClose, netstat, kNetstat);
BENCHMARK_CAPTURE(KeptPread, netstat, kNetstat);
BENCHMARK_CAPTURE(OpenReadClose, snmp, kSnmp);
BENCHMARK_CAPTURE(KeptPread, snmp, kSnmp);
BENCHMARK_CAPTURE(OpenReadClose, sysctl, kSomaxconn);
BENCHMARK_CAPTURE(KeptPread, sysctl, kSomaxconn);
BENCHMARK_CAPTURE(OpenClose, netstat, kNetstat);
BENCHMARK_CAPTURE(OpenClose, sysctl, kSomaxconn);

// One switch of the calling thread to another network namespace: each
// iteration is one setns, alternately to a new namespace and back home.
void SetnsSwitch(benchmark::State& state) {
  const int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0 || ::unshare(CLONE_NEWNET) != 0) {
    state.SkipWithError(
        (std::string("needs root (CAP_SYS_ADMIN): ") + std::strerror(errno))
            .c_str());
    if (home >= 0) ::close(home);
    return;
  }
  const int other = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  bool at_home = false;
  for (auto _ : state) {
    if (::setns(at_home ? other : home, CLONE_NEWNET) != 0) {
      state.SkipWithError(std::strerror(errno));
      break;
    }
    at_home = !at_home;
  }
  ::setns(home, CLONE_NEWNET);
  ::close(other);
  ::close(home);
}
BENCHMARK(SetnsSwitch);

// The floor of any system call on this machine (getppid does no work).
void NullSyscall(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(::syscall(SYS_getppid));
}
BENCHMARK(NullSyscall);

}  // namespace
