// Latency of a burst of concurrent scrapes against one scrape alone, from a
// client that costs little next to the server: one thread, epoll, every
// connection opened before the clock starts. A Python client with a thread
// per scraper measures itself more than the server (100 threads fetching
// /-/healthy take 13 ms at the median where one takes 0.25 ms).
//
//   scrape_burst --port 9715 [--path /metrics] [--clients 100] [--rounds 10]
//                [--gzip]
//
// Prints the median time of one scrape alone (send to last byte), the median
// over rounds of each burst's median latency of the scrapes served (200: a
// 503 of --web.max-requests is quick and is no scrape), their ratio, and the
// status codes seen. --gzip sends Accept-Encoding: gzip, as Prometheus does.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  std::string path = "/metrics";
  int clients = 100;
  int rounds = 10;
  bool gzip = false;
};

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Die("connect");
  }
  return fd;
}

struct Scrape {
  int fd = -1;
  Clock::time_point sent;
  Clock::time_point done;
  std::string head;  // the first bytes of the reply, for its status
  size_t bytes = 0;
};

// Reads what is there; true once the server closed the connection.
bool ReadSome(Scrape& s) {
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(s.fd, buffer, sizeof(buffer));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return false;
      Die("read");
    }
    if (s.head.size() < 16) {
      s.head.append(
          buffer, std::min<size_t>(static_cast<size_t>(n), 16 - s.head.size()));
    }
    s.bytes += static_cast<size_t>(n);
  }
}

// Sends the request on every connection at once and waits for every reply.
void Run(const std::string& request, std::vector<Scrape>& scrapes) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) Die("epoll_create1");
  for (size_t i = 0; i < scrapes.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, scrapes[i].fd, &event) != 0) {
      Die("epoll_ctl");
    }
  }
  for (Scrape& s : scrapes) {
    s.sent = Clock::now();
    if (::write(s.fd, request.data(), request.size()) !=
        static_cast<ssize_t>(request.size())) {
      Die("write");
    }
  }
  size_t open = scrapes.size();
  std::vector<epoll_event> events(scrapes.size());
  while (open > 0) {
    const int n = ::epoll_wait(epoll, events.data(),
                               static_cast<int>(events.size()), 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("epoll_wait (no reply within 30 s)");
    for (int e = 0; e < n; ++e) {
      Scrape& s = scrapes[events[e].data.u64];
      if (ReadSome(s)) {
        s.done = Clock::now();
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, s.fd, nullptr);
        ::close(s.fd);
        --open;
      }
    }
  }
  ::close(epoll);
}

// Connections opened (and accepted) before the clock starts, non-blocking.
std::vector<Scrape> Open(const Options& options, int count) {
  std::vector<Scrape> scrapes(static_cast<size_t>(count));
  for (Scrape& s : scrapes) {
    s.fd = Connect(options.port);
    const int one = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  // The server's accept loop hands each connection to a worker; give it
  // the time to, so that the burst measures requests, not accepts.
  ::usleep(20000);
  for (Scrape& s : scrapes) {
    const int flags = O_NONBLOCK;
    if (::fcntl(s.fd, F_SETFL, flags) != 0) Die("fcntl");
  }
  return scrapes;
}

double Seconds(const Scrape& s) {
  return std::chrono::duration<double>(s.done - s.sent).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (arg == "--port") {
      options.port = std::atoi(value().c_str());
    } else if (arg == "--path") {
      options.path = value();
    } else if (arg == "--clients") {
      options.clients = std::atoi(value().c_str());
    } else if (arg == "--rounds") {
      options.rounds = std::atoi(value().c_str());
    } else if (arg == "--gzip") {
      options.gzip = true;
    } else {
      std::fprintf(stderr,
                   "usage: scrape_burst --port N [--path /metrics] "
                   "[--clients 100] [--rounds 10] [--gzip]\n");
      std::exit(2);
    }
  }
  if (options.port <= 0 || options.clients <= 0 || options.rounds <= 0) {
    std::fprintf(stderr, "--port, --clients and --rounds must be positive\n");
    std::exit(2);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  const std::string request =
      "GET " + options.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      (options.gzip ? "Accept-Encoding: gzip\r\n" : "") +
      "Connection: close\r\n\r\n";
  std::map<std::string, int> statuses;
  std::vector<double> alone, burst_medians;
  size_t bytes = 0;
  // Rounds alternate one scrape alone and one burst, so that both see the
  // same machine.
  for (int round = 0; round < options.rounds; ++round) {
    for (int i = 0; i < 3; ++i) {
      std::vector<Scrape> one = Open(options, 1);
      Run(request, one);
      alone.push_back(Seconds(one[0]));
    }
    std::vector<Scrape> burst = Open(options, options.clients);
    Run(request, burst);
    std::vector<double> served;
    for (const Scrape& s : burst) {
      const std::string status =
          s.head.substr(0, std::min<size_t>(12, s.head.size()));
      ++statuses[status];
      if (status == "HTTP/1.1 200") served.push_back(Seconds(s));
      bytes = std::max(bytes, s.bytes);
    }
    if (!served.empty()) burst_medians.push_back(Median(served));
  }
  if (burst_medians.empty()) {
    std::fprintf(stderr, "no scrape of any burst was served (200)\n");
    return 1;
  }
  const double single = Median(alone);
  const double burst = Median(burst_medians);
  std::printf("one scrape alone: %.2f ms (median of %zu)\n", single * 1e3,
              alone.size());
  std::printf(
      "%d concurrent: median latency of those served %.2f ms (median of %zu "
      "bursts)\n",
      options.clients, burst * 1e3, burst_medians.size());
  std::printf("ratio: %.2f\n", burst / single);
  std::printf("largest reply: %zu bytes\n", bytes);
  for (const auto& [status, count] : statuses) {
    std::printf("status '%s': %d\n", status.c_str(), count);
  }
  return 0;
}
