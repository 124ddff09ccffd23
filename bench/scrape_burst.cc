// Latency of a burst of concurrent scrapes against one scrape alone, from a
// client that costs little next to the server: one thread, epoll, every
// connection opened before the clock starts. A Python client with a thread
// per scraper measures itself more than the server (100 threads fetching
// /-/healthy take 13 ms at the median where one takes 0.25 ms).
//
//   scrape_burst --port 9715 [--path /metrics] [--clients 100] [--rounds 10]
//                [--gzip] [--keep-alive] [--floor] [--server-pid PID]
//
// Prints the median time of one scrape alone (send to last byte), the median
// over rounds of each burst's median latency of the scrapes served (200: a
// 503 of --web.max-requests is quick and is no scrape), their ratio, and the
// status codes seen.
// --gzip sends Accept-Encoding: gzip, and --keep-alive keeps each scraper's
// connection from round to round (the end of a reply is its Content-Length
// or its last chunk),
// as Prometheus does; without it every scrape has a connection of its own
// that the server closes.
// --floor also runs every burst against a server in this process that only
// writes the exporter's reply (recorded once) from one epoll thread, doing
// nothing else: the part of the burst's latency that the client, loopback
// TCP and the scheduler cost on this machine whatever the server does.
// --server-pid PID (the server's process, on this machine) prints the CPU
// time its threads took per request of the bursts, by thread name (from
// /proc/PID/task/*/schedstat: exact, where ticks miss short runs).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  std::string path = "/metrics";
  int clients = 100;
  int rounds = 10;
  bool gzip = false;
  bool keep_alive = false;
  bool floor = false;
  int server_pid = 0;
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
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

struct Scrape {
  int fd = -1;
  Clock::time_point sent;
  Clock::time_point done;
  std::string reply;  // up to the end of the head, then as much as wanted
  size_t bytes = 0;
  size_t length = 0;     // head and body, once the head is in
  bool chunked = false;  // no length: the end is the last chunk's
  std::string tail;      // the last bytes read, for that end
  bool closed = false;   // by the server
};

// The end of a chunked body (RFC 9112, 7.1): the last chunk, no trailers.
constexpr char kLastChunk[] = "\r\n0\r\n\r\n";

// Reads what is there; true once the reply is complete: its Content-Length
// read (kept alive) or the connection closed.
bool ReadSome(Scrape& s, bool keep_alive, bool keep_reply) {
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(s.fd, buffer, sizeof(buffer));
    if (n == 0) {
      s.closed = true;
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return false;
      Die("read");
    }
    s.bytes += static_cast<size_t>(n);
    if (s.length == 0 || keep_reply) {
      s.reply.append(buffer, static_cast<size_t>(n));
    }
    if (s.length == 0 && !s.chunked) {
      const size_t head_end = s.reply.find("\r\n\r\n");
      const size_t field = s.reply.find("\r\nContent-Length: ");
      if (head_end != std::string::npos && field < head_end) {
        s.length = head_end + 4 +
                   std::strtoul(s.reply.c_str() + field + 18, nullptr, 10);
      } else if (head_end != std::string::npos) {
        // Go's servers (node_exporter) send gzip chunked.
        s.chunked =
            s.reply.find("\r\nTransfer-Encoding: chunked\r\n") < head_end;
      }
    }
    s.tail.append(buffer, static_cast<size_t>(n));
    if (s.tail.size() > 64) s.tail.erase(0, s.tail.size() - 64);
    if (keep_alive && s.length != 0 && s.bytes >= s.length) return true;
    if (keep_alive && s.chunked && s.tail.ends_with(kLastChunk)) return true;
  }
}

// Sends the request on every connection at once and waits for every reply.
void Run(const std::string& request, bool keep_alive, bool keep_reply,
         std::vector<Scrape>& scrapes) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) Die("epoll_create1");
  for (size_t i = 0; i < scrapes.size(); ++i) {
    Scrape& s = scrapes[i];
    s.reply.clear();
    s.bytes = s.length = 0;
    s.chunked = s.closed = false;
    s.tail.clear();
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, s.fd, &event) != 0) {
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
      if (ReadSome(s, keep_alive, keep_reply)) {
        s.done = Clock::now();
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, s.fd, nullptr);
        --open;
      }
    }
  }
  ::close(epoll);
}

// Connections opened (and accepted) before the clock starts, non-blocking.
std::vector<Scrape> Open(int port, int count) {
  std::vector<Scrape> scrapes(static_cast<size_t>(count));
  for (Scrape& s : scrapes) s.fd = Connect(port);
  // The server's accept loop hands each connection to a worker; give it
  // the time to, so that the burst measures requests, not accepts.
  ::usleep(20000);
  for (Scrape& s : scrapes) {
    if (::fcntl(s.fd, F_SETFL, O_NONBLOCK) != 0) Die("fcntl");
  }
  return scrapes;
}

void Close(std::vector<Scrape>& scrapes) {
  for (Scrape& s : scrapes) ::close(s.fd);
}

// The connections of the next round: new ones, or the same ones kept alive
// (a connection the server closed is opened again, and counted).
void Reopen(int port, bool keep_alive, std::vector<Scrape>& scrapes,
            int& reconnects) {
  if (!keep_alive) {
    Close(scrapes);
    scrapes = Open(port, static_cast<int>(scrapes.size()));
    return;
  }
  for (Scrape& s : scrapes) {
    if (!s.closed) continue;
    ++reconnects;
    ::close(s.fd);
    s.fd = Connect(port);
    if (::fcntl(s.fd, F_SETFL, O_NONBLOCK) != 0) Die("fcntl");
  }
}

// The floor: one epoll thread that answers every request head it reads with
// `reply`, and closes the connection after it when the request says
// "Connection: close".
class ReplayServer {
 public:
  explicit ReplayServer(std::string reply) : reply_(std::move(reply)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), size) != 0 ||
        ::listen(listener_, 1024) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size) !=
            0) {
      Die("replay server: listen");
    }
    port_ = ntohs(addr.sin_port);
    ::fcntl(listener_, F_SETFL, O_NONBLOCK);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    Watch(listener_, EPOLLIN);
    thread_ = std::thread([this] { Loop(); });
  }
  ~ReplayServer() {
    stop_ = true;
    thread_.join();
    for (auto& [fd, connection] : connections_) ::close(fd);
    ::close(epoll_);
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  struct Connection {
    std::string in;
    size_t written = 0;  // of reply_, while writing it
    bool writing = false;
    bool close_after = false;
  };

  void Watch(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
  }
  void Rewatch(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &event);
  }
  void Drop(int fd) {
    ::close(fd);
    connections_.erase(fd);
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    while (!stop_) {
      const int n = ::epoll_wait(epoll_, events.data(), 256, 100);
      for (int e = 0; e < n; ++e) {
        const int fd = events[e].data.fd;
        if (fd == listener_) {
          int client;
          while ((client = ::accept4(listener_, nullptr, nullptr,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            const int one = 1;
            ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            connections_[client];
            Watch(client, EPOLLIN);
          }
          continue;
        }
        Serve(fd);
      }
    }
  }

  void Serve(int fd) {
    Connection& c = connections_[fd];
    if (!c.writing) {
      char buffer[16384];
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN) Drop(fd);
        return;
      }
      c.in.append(buffer, static_cast<size_t>(n));
      const size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      c.close_after = c.in.find("Connection: close") < end;
      c.in.erase(0, end + 4);
      c.writing = true;
      c.written = 0;
    }
    while (c.written < reply_.size()) {
      const ssize_t n =
          ::write(fd, reply_.data() + c.written, reply_.size() - c.written);
      if (n < 0) {
        if (errno == EAGAIN) return Rewatch(fd, EPOLLOUT);
        return Drop(fd);
      }
      c.written += static_cast<size_t>(n);
    }
    c.writing = false;
    if (c.close_after) return Drop(fd);
    Rewatch(fd, EPOLLIN);
  }

  const std::string reply_;
  int listener_ = -1;
  int epoll_ = -1;
  int port_ = 0;
  std::map<int, Connection> connections_;  // the loop's thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// CPU time in ns of each thread name of process `pid` so far.
std::map<std::string, uint64_t> CpuByThreadName(int pid) {
  std::map<std::string, uint64_t> cpu;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(task.path() / "comm"),
        schedstat(task.path() / "schedstat");
    std::string name;
    uint64_t ns = 0;
    if (std::getline(comm, name) && schedstat >> ns) cpu[name] += ns;
  }
  return cpu;
}

double Seconds(const Scrape& s) {
  return std::chrono::duration<double>(s.done - s.sent).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string Status(const Scrape& s) {
  return s.closed && s.bytes == 0 ? "closed before a reply"
                                  : s.reply.substr(0, 12);
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
    } else if (arg == "--keep-alive") {
      options.keep_alive = true;
    } else if (arg == "--floor") {
      options.floor = true;
    } else if (arg == "--server-pid") {
      options.server_pid = std::atoi(value().c_str());
    } else {
      std::fprintf(stderr,
                   "usage: scrape_burst --port N [--path /metrics] "
                   "[--clients 100] [--rounds 10] [--gzip] [--keep-alive] "
                   "[--floor] [--server-pid PID]\n");
      std::exit(2);
    }
  }
  if (options.port <= 0 || options.clients <= 0 || options.rounds <= 0) {
    std::fprintf(stderr, "--port, --clients and --rounds must be positive\n");
    std::exit(2);
  }
  return options;
}

// The burst's median latency of the scrapes served (200), and the statuses;
// the latencies of 503s (refused: more than --web.max-requests in flight)
// are added to `refused`.
double BurstMedian(const std::vector<Scrape>& burst,
                   std::map<std::string, int>& statuses, size_t& bytes,
                   std::vector<double>& refused) {
  std::vector<double> served;
  for (const Scrape& s : burst) {
    const std::string status = Status(s);
    ++statuses[status];
    if (status == "HTTP/1.1 200") served.push_back(Seconds(s));
    if (status == "HTTP/1.1 503") refused.push_back(Seconds(s));
    bytes = std::max(bytes, s.bytes);
  }
  return served.empty() ? -1 : Median(served);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  const bool keep_alive = options.keep_alive;
  const std::string request =
      "GET " + options.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      (options.gzip ? "Accept-Encoding: gzip\r\n" : "") +
      (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
  std::map<std::string, int> statuses, floor_statuses;
  std::vector<double> alone, burst_medians, floor_medians, refused,
      floor_refused;
  size_t bytes = 0, floor_bytes = 0;
  int reconnects = 0;
  std::vector<Scrape> one = Open(options.port, 1);
  std::vector<Scrape> burst = Open(options.port, options.clients);
  // The reply the floor's server writes: a whole 200 of the exporter.
  Run(request, keep_alive, /*keep_reply=*/true, one);
  if (Status(one[0]) != "HTTP/1.1 200") {
    std::fprintf(stderr, "a single scrape got '%s'\n", Status(one[0]).c_str());
    return 1;
  }
  std::unique_ptr<ReplayServer> floor_server;
  std::vector<Scrape> floor_burst;
  if (options.floor) {
    floor_server = std::make_unique<ReplayServer>(one[0].reply);
    floor_burst = Open(floor_server->port(), options.clients);
  }
  if (keep_alive) {  // every connection has served once before the clock
    Run(request, keep_alive, false, burst);
    if (options.floor) Run(request, keep_alive, false, floor_burst);
  }
  const std::map<std::string, uint64_t> cpu_before =
      options.server_pid > 0 ? CpuByThreadName(options.server_pid)
                             : std::map<std::string, uint64_t>();
  // Rounds alternate scrapes alone and bursts, so that both see the same
  // machine.
  constexpr int kAlonePerRound = 3;
  for (int round = 0; round < options.rounds; ++round) {
    for (int i = 0; i < kAlonePerRound; ++i) {
      Reopen(options.port, keep_alive, one, reconnects);
      Run(request, keep_alive, false, one);
      alone.push_back(Seconds(one[0]));
    }
    Reopen(options.port, keep_alive, burst, reconnects);
    Run(request, keep_alive, false, burst);
    const double median = BurstMedian(burst, statuses, bytes, refused);
    if (median >= 0) burst_medians.push_back(median);
    if (options.floor) {
      Reopen(floor_server->port(), keep_alive, floor_burst, reconnects);
      Run(request, keep_alive, false, floor_burst);
      floor_medians.push_back(
          BurstMedian(floor_burst, floor_statuses, floor_bytes, floor_refused));
    }
  }
  if (options.server_pid > 0) {
    const int requests = options.rounds * (kAlonePerRound + options.clients);
    std::printf("server CPU per request (%d requests):", requests);
    for (const auto& [name, ns] : CpuByThreadName(options.server_pid)) {
      const auto before = cpu_before.find(name);
      const uint64_t spent =
          ns - (before != cpu_before.end() ? before->second : 0);
      std::printf(" %s %.1f us;", name.c_str(), spent / 1e3 / requests);
    }
    std::printf("\n");
  }
  Close(one);
  Close(burst);
  Close(floor_burst);
  if (burst_medians.empty()) {
    std::fprintf(stderr, "no scrape of any burst was served (200)\n");
    return 1;
  }
  const double single = Median(alone);
  const double median = Median(burst_medians);
  std::printf("one scrape alone: %.2f ms (median of %zu)\n", single * 1e3,
              alone.size());
  std::printf(
      "%d concurrent: median latency of those served %.2f ms (median of %zu "
      "bursts)\n",
      options.clients, median * 1e3, burst_medians.size());
  std::printf("ratio: %.2f\n", median / single);
  std::printf("largest reply: %zu bytes\n", bytes);
  for (const auto& [status, count] : statuses) {
    std::printf("status '%s': %d\n", status.c_str(), count);
  }
  if (keep_alive) std::printf("reconnects: %d\n", reconnects);
  if (!refused.empty()) {
    std::printf("503s: median latency %.2f ms\n", Median(refused) * 1e3);
  }
  if (options.floor) {
    const double floor = Median(floor_medians);
    std::printf(
        "floor: %.2f ms, the same bursts against a server that only writes "
        "that reply (%zu bytes; statuses '%s' %d)\n",
        floor * 1e3, floor_bytes, floor_statuses.begin()->first.c_str(),
        floor_statuses.begin()->second);
    std::printf("above the floor: %.2f ms = %.2f single scrapes\n",
                (median - floor) * 1e3, (median - floor) / single);
  }
  return 0;
}
