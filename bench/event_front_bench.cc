// What an event-driven HTTP front would give the exporter's bursts of
// concurrent scrapes, measured instead of guessed: the exporter's own
// collection (Scraper, TwoThreadSerializer, ScrapeCoalescer, the same flags)
// behind one epoll thread that reads every request and writes every reply,
// where the exporter gives each connection a CivetWeb worker thread.
//
//   event_front_bench [exporter flags: --web.listen-address=127.0.0.1:9716 ...]
//   scrape_burst --port 9716 --keep-alive --gzip --rounds 20
//
// It listens on 127.0.0.1 at the port of --web.listen-address and serves
// GET /metrics (gzip when asked, kept alive), /-/ready and nothing else, and
// answers 503 beyond --web.max-requests scrapes waiting, as the exporter does.
// A measuring instrument, not a server: no TLS, no auth, no deadlines, requests
// of one segment. A collection costs it two thread hand-offs more than the
// exporter (to and from ScrapeWaiter), on the single scrape as on the burst.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "exporter/collector_registry.h"
#include "exporter/config.h"
#include "exporter/exposition.h"
#include "exporter/scrape_coalescer.h"
#include "exporter/scrape_text.h"
#include "procfs/unique_fd.h"

namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

struct Connection {
  tcpq::UniqueFd fd;
  std::string in;        // request bytes not handled yet
  std::string out;       // reply bytes not written yet
  bool waiting = false;  // for a scrape
  bool gzip = false;
};

// One thread blocks in ScrapeCoalescer::Get for the epoll thread, so that
// a request joins the collection running when it is read, as in the
// exporter, and hands each result over through an eventfd. Its thread runs
// until the process is killed.
class ScrapeWaiter {
 public:
  explicit ScrapeWaiter(tcpq::ScrapeCoalescer* scrapes)
      : scrapes_(scrapes), event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!event_.valid()) Die("eventfd");
    std::thread([this] { Loop(); }).detach();
  }
  int event_fd() const { return event_.get(); }

  // Asks for the running collection, or the next if none runs.
  void Want() {
    std::lock_guard lock(mu_);
    if (!busy_ && !wanted_) {
      wanted_ = true;
      cv_.notify_one();
    }
  }
  // The results since the last call.
  std::vector<std::shared_ptr<const tcpq::ScrapeText>> Take() {
    uint64_t count;
    (void)!::read(event_.get(), &count, sizeof(count));
    std::lock_guard lock(mu_);
    return std::exchange(results_, {});
  }

 private:
  void Loop() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return wanted_; });
        wanted_ = false;
        busy_ = true;
      }
      std::shared_ptr<const tcpq::ScrapeText> text = scrapes_->Get(true);
      {
        std::lock_guard lock(mu_);
        results_.push_back(std::move(text));
        busy_ = false;
      }
      const uint64_t one = 1;
      (void)!::write(event_.get(), &one, sizeof(one));
    }
  }

  tcpq::ScrapeCoalescer* scrapes_;
  tcpq::UniqueFd event_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool busy_ = false;  // in Get: a request read now gets its result
  std::vector<std::shared_ptr<const tcpq::ScrapeText>> results_;
};

std::string Reply(int status, absl::string_view body,
                  absl::string_view extra_headers) {
  const char* reason = status == 200   ? " OK"
                       : status == 503 ? " Service Unavailable"
                                       : " Not Found";
  return absl::StrCat("HTTP/1.1 ", status, reason,
                      "\r\nContent-Type: text/plain; version=0.0.4; "
                      "charset=utf-8\r\nContent-Length: ",
                      body.size(), "\r\nCache-Control: no-store\r\n",
                      extra_headers, "\r\n", body);
}

class EventFront {
 public:
  EventFront(int port, int max_requests, tcpq::ScrapeCoalescer* scrapes)
      : max_requests_(max_requests),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        listener_(
            ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)),
        waiter_(scrapes) {
    const int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr),
               sizeof(addr)) != 0 ||
        ::listen(listener_.get(), 1024) != 0) {
      Die("listen");
    }
    Watch(listener_.get(), EPOLLIN);
    Watch(waiter_.event_fd(), EPOLLIN);
  }

  void Run() {
    epoll_event events[256];
    for (;;) {
      const int n = ::epoll_wait(epoll_.get(), events, 256, -1);
      if (n < 0 && errno != EINTR) Die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener_.get()) {
          Accept();
        } else if (fd == waiter_.event_fd()) {
          Deliver();
        } else if (events[i].events & EPOLLIN) {
          Read(fd);
        } else if (events[i].events & EPOLLOUT) {
          Flush(connections_[fd]);
        }
      }
    }
  }

 private:
  void Watch(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event);
  }

  void Accept() {
    for (;;) {
      const int fd = ::accept4(listener_.get(), nullptr, nullptr,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      connections_[fd].fd = tcpq::UniqueFd(fd);
      Watch(fd, EPOLLIN);
    }
  }

  void Read(int fd) {
    Connection& c = connections_[fd];
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (c.waiting) --waiting_;
        connections_.erase(fd);  // closes it
        return;
      }
      if (n < 0) break;
      c.in.append(buffer, static_cast<size_t>(n));
    }
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || c.waiting) return;
    const absl::string_view head(c.in.data(), end);
    if (absl::StartsWith(head, "GET /metrics ")) {
      if (max_requests_ > 0 && waiting_ >= max_requests_) {
        c.out += Reply(503, "Service Unavailable\n", "");
      } else {
        c.waiting = true;
        c.gzip = absl::StrContains(head, "\r\nAccept-Encoding: gzip");
        ++waiting_;
        waiter_.Want();
      }
    } else if (absl::StartsWith(head, "GET /-/ready ")) {
      c.out += Reply(200, "Ready\n", "");
    } else {
      c.out += Reply(404, "Not Found\n", "");
    }
    c.in.erase(0, end + 4);
    Flush(c);
  }

  // Every request waiting gets the collection that was running when it was
  // read (or the next).
  void Deliver() {
    for (const auto& text : waiter_.Take()) {
      for (auto& [fd, c] : connections_) {
        if (!c.waiting) continue;
        c.waiting = false;
        --waiting_;
        const absl::StatusOr<std::string>& gzip = text->Gzip();
        c.out += c.gzip && gzip.ok()
                     ? Reply(200, *gzip,
                             "Content-Encoding: gzip\r\nVary: "
                             "Accept-Encoding\r\n")
                     : Reply(200, text->text(), "Vary: Accept-Encoding\r\n");
        Flush(c);
      }
    }
  }

  void Flush(Connection& c) {
    while (!c.out.empty()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        return;  // the next read sees the error and closes
      }
      c.out.erase(0, static_cast<size_t>(n));
    }
    epoll_event event{};
    event.events = c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT;
    event.data.fd = c.fd.get();
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &event);
  }

  const int max_requests_;
  tcpq::UniqueFd epoll_;
  tcpq::UniqueFd listener_;
  int waiting_ = 0;
  ScrapeWaiter waiter_;
  std::unordered_map<int, Connection> connections_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<tcpq::CommandLine> command_line =
      tcpq::ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(command_line.status().message()).c_str());
    return 2;
  }
  const tcpq::Config& config = command_line->config;
  absl::StatusOr<std::unique_ptr<tcpq::Scraper>> scraper =
      tcpq::Scraper::Create(config.discovery);
  if (!scraper.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(scraper.status().message()).c_str());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  tcpq::TwoThreadSerializer serializer;
  tcpq::ScrapeCoalescer scrapes(
      [&] { return serializer.Serialize((*scraper)->Scrape()); });
  EventFront front(config.listen.port, config.max_requests, &scrapes);
  front.Run();
}
