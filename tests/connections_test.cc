#include "exporter/connections.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "tests/walk_socket_builder.h"

namespace tcpq::connections {
namespace {

using ::testing::HasSubstr;

tcpq_connection Raw(uint8_t state, const char* local, uint16_t port,
                    const char* remote, uint64_t cookie, uint64_t since_ns,
                    uint32_t netns = 1) {
  tcpq_connection c{};
  c.socket = test_support::WalkSocket(state, local, port, remote, cookie,
                                      since_ns, netns);
  c.rtt_us = 1500;
  c.last_data_sent_ms = TCPQ_UNKNOWN_MS;
  return c;
}

std::string Error(absl::string_view query) {
  const absl::StatusOr<Query> q = ParseQuery(query);
  EXPECT_FALSE(q.ok()) << query;
  return q.ok() ? "" : std::string(q.status().message());
}

TEST(ConnectionsQueryTest, Defaults) {
  const absl::StatusOr<Query> q = ParseQuery("");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limit, kDefaultLimit);
  EXPECT_FALSE(q->text);
  EXPECT_EQ(q->states, 0u);
}

TEST(ConnectionsQueryTest, EveryParameter) {
  const absl::StatusOr<Query> q = ParseQuery(
      "netns=4026531840&namespace=shop&pod=web-0&port=8080&peer=%3A%3A1&"
      "state=close_wait,established&min_age=2.5&limit=7&format=text");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->netns, 4026531840u);
  EXPECT_EQ(q->kubernetes_namespace, "shop");
  EXPECT_EQ(q->pod, "web-0");
  EXPECT_EQ(q->port, 8080);
  ASSERT_TRUE(q->peer.has_value());
  EXPECT_EQ(q->peer->family, AF_INET6);
  EXPECT_EQ(q->states,
            (1u << TCPQ_TCP_CLOSE_WAIT) | (1u << TCPQ_TCP_ESTABLISHED));
  EXPECT_EQ(q->min_age, 2.5);
  EXPECT_EQ(q->limit, 7u);
  EXPECT_TRUE(q->text);
}

TEST(ConnectionsQueryTest, BadParametersNameTheProblemOnOneLine) {
  EXPECT_THAT(Error("port=0"), HasSubstr("port must be a port number 1-65535"));
  EXPECT_THAT(Error("port=65536"), HasSubstr("port"));
  EXPECT_THAT(Error("port=http"), HasSubstr("port"));
  EXPECT_THAT(Error("limit=0"), HasSubstr("limit must be 1-10000"));
  EXPECT_THAT(Error("limit=10001"), HasSubstr("limit"));
  EXPECT_THAT(Error("min_age=-1"), HasSubstr("min_age"));
  EXPECT_THAT(Error("min_age=nan"), HasSubstr("min_age"));
  EXPECT_THAT(Error("state=closed"), HasSubstr("state"));
  EXPECT_THAT(Error("state=close"), HasSubstr("state"));
  EXPECT_THAT(Error("peer=300.1.1.1"), HasSubstr("peer"));
  EXPECT_THAT(Error("netns=-5"), HasSubstr("netns"));
  EXPECT_THAT(Error("format=xml"), HasSubstr("format"));
  EXPECT_THAT(Error("pod="), HasSubstr("pod"));
  EXPECT_THAT(Error("color=red"), HasSubstr("unknown parameter color"));
  EXPECT_THAT(Error("port=80&port=81"), HasSubstr("given twice"));
  EXPECT_THAT(Error("peer=%zz"), HasSubstr("malformed"));
  EXPECT_THAT(Error("pod=a%0Ab&x=1"), ::testing::Not(HasSubstr("\n")));
}

TEST(ConnectionsFilterTest, EachFilter) {
  const tcpq_connection c =
      Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 1, 0);
  const Identity who{"shop", "web-0", "nginx"};
  const auto matches = [&](absl::string_view q, std::optional<double> age) {
    const absl::StatusOr<Query> query = ParseQuery(q);
    EXPECT_TRUE(query.ok()) << q;
    return Matches(*query, c, age, who);
  };
  EXPECT_TRUE(matches("", std::nullopt));
  EXPECT_TRUE(matches("netns=1&port=80&state=established", 1.0));
  EXPECT_FALSE(matches("netns=2", 1.0));
  EXPECT_FALSE(matches("port=81", 1.0));
  EXPECT_FALSE(matches("state=close_wait", 1.0));
  EXPECT_TRUE(matches("min_age=1", 1.0));
  EXPECT_FALSE(matches("min_age=1.5", 1.0));
  EXPECT_FALSE(matches("min_age=1", std::nullopt));  // unknown age
  EXPECT_TRUE(matches("peer=127.0.0.2", 1.0));
  EXPECT_TRUE(matches("peer=::ffff:127.0.0.2", 1.0));  // its mapped form
  EXPECT_FALSE(matches("peer=127.0.0.3", 1.0));
  EXPECT_TRUE(matches("namespace=shop&pod=web-0", 1.0));
  EXPECT_FALSE(matches("pod=web-1", 1.0));

  const tcpq_connection mapped = Raw(TCPQ_TCP_ESTABLISHED, "::ffff:127.0.0.1",
                                     80, "::ffff:127.0.0.2", 2, 0);
  EXPECT_TRUE(Matches(*ParseQuery("peer=127.0.0.2"), mapped, 1.0, who));
}

TEST(ConnectionsFilterTest, WhatTheKernelFilters) {
  const absl::StatusOr<Query> q = ParseQuery(
      "netns=7&port=80&state=established&peer=127.0.0.2&min_age=2&pod=x");
  ASSERT_TRUE(q.ok());
  const tcpq_conn_filter f = KernelFilter(*q, 10'000'000'000);
  EXPECT_EQ(f.netns, 7u);
  EXPECT_EQ(f.port, 80);
  EXPECT_EQ(f.states, 1u << TCPQ_TCP_ESTABLISHED);
  EXPECT_EQ(f.max_since_ns, 8'000'000'000u);
  EXPECT_EQ(f.has_peer, 1);
  const uint8_t mapped[16] = {0, 0, 0,    0,    0,   0, 0, 0,
                              0, 0, 0xff, 0xff, 127, 0, 0, 2};
  EXPECT_EQ(std::memcmp(f.peer, mapped, 16), 0);
  EXPECT_EQ(f.since_only, 0);
  // Older than the clock: nothing matches, the bound stays on.
  EXPECT_EQ(KernelFilter(*ParseQuery("min_age=100"), 5).max_since_ns, 1u);
  const tcpq_conn_filter none = KernelFilter(*ParseQuery(""), 5);
  EXPECT_EQ(none.max_since_ns, 0u);
  EXPECT_EQ(none.netns | none.port | none.states | none.has_peer, 0u);
}

TEST(ConnectionsOldestTest, KeepsTheLimitOldestOnceEach) {
  Oldest oldest(3);
  const double ages[] = {5, 1, 9, 3, 9, 7, 2};
  for (uint64_t i = 0; i < 7; ++i) {
    // Cookie 3 comes twice (a walk may repeat a socket).
    const uint64_t cookie = i == 4 ? 3 : i + 1;
    oldest.Add(
        {Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", cookie, 1),
         ages[i],
         {}});
  }
  oldest.Add({Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 99, 0),
              std::nullopt,
              {}});
  const std::vector<Connection> kept = oldest.Take();
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].seconds_in_state, 9);
  EXPECT_EQ(kept[0].raw.socket.cookie, 3u);
  EXPECT_EQ(kept[1].seconds_in_state, 7);
  EXPECT_EQ(kept[2].seconds_in_state, 5);
}

TEST(ConnectionsRenderTest, Json) {
  tcpq_connection c =
      Raw(TCPQ_TCP_CLOSE_WAIT, "::1", 8080, "::1", 42, 1, 4026531840u);
  c.socket.flags = TCPQ_WALK_SEEDED;
  c.recv_q = 3;
  c.last_data_recv_ms = 250;
  const std::string json =
      RenderJson({{c, 12.5, {"shop", "we\"b", "nginx"}}}, true);
  EXPECT_THAT(json, HasSubstr("\"netns\":4026531840,\"namespace\":\"shop\","
                              "\"pod\":\"we\\\"b\",\"process\":\"nginx\""));
  EXPECT_THAT(json, HasSubstr("\"local_address\":\"::1\",\"local_port\":8080"));
  EXPECT_THAT(json, HasSubstr("\"state\":\"close_wait\",\"seconds_in_state\":"
                              "12.500,\"in_state_before_exporter\":true"));
  EXPECT_THAT(json, HasSubstr("\"recv_q\":3"));
  EXPECT_THAT(json, HasSubstr("\"rtt_us\":1500"));
  EXPECT_THAT(json, HasSubstr("\"last_data_sent_ms\":null,"
                              "\"last_data_recv_ms\":250"));
  EXPECT_EQ(RenderJson({}, false), "{\"connections\":[]}\n");
  EXPECT_THAT(RenderJson({{c, std::nullopt, {}}}, false),
              ::testing::AllOf(HasSubstr("\"seconds_in_state\":null"),
                               ::testing::Not(HasSubstr("namespace"))));
}

TEST(ConnectionsRenderTest, TextIsAligned) {
  const std::string text = RenderText(
      {{Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 1, 1),
        3.25,
        {}},
       {Raw(TCPQ_TCP_SYN_SENT, "::1", 443, "::1", 2, 1), 0.5, {}}},
      false);
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_EQ(lines.size(), 4u);  // header, two rows, ""
  EXPECT_THAT(lines[0], ::testing::StartsWith("NETNS  STATE        AGE(s)"));
  EXPECT_THAT(lines[1], HasSubstr("127.0.0.1:80"));
  EXPECT_THAT(lines[2], HasSubstr("[::1]:443"));
  // Every column starts at the same offset on every line.
  EXPECT_EQ(lines[0].find("LOCAL"), lines[1].find("127.0.0.1:80"));
  EXPECT_EQ(lines[0].find("LOCAL"), lines[2].find("[::1]:443"));
  EXPECT_EQ(lines[0].find("RTT(ms)"), lines[1].find("1.500/0.000"));
}

}  // namespace
}  // namespace tcpq::connections

namespace tcpq::connections {
namespace {

// A fake walk_connections over `sockets`: applies the kernel's filter as the
// BPF program does for what it can (netns, port, max_since), writes 8-byte
// since_ns values or full records, and notes each filter it ran with.
class FakeWalk {
 public:
  explicit FakeWalk(std::vector<tcpq_connection> sockets)
      : sockets_(std::move(sockets)) {}

  absl::Status operator()(
      const tcpq_conn_filter& filter,
      absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
    filters.push_back(filter);
    for (const tcpq_connection& c : sockets_) {
      const tcpq_walk_socket& s = c.socket;
      if ((filter.netns != 0 && s.netns != filter.netns) ||
          (filter.port != 0 && s.local_port != filter.port) ||
          (filter.max_since_ns != 0 &&
           (s.since_ns == 0 || s.since_ns > filter.max_since_ns))) {
        continue;
      }
      if (filter.since_only) {
        chunk({reinterpret_cast<const uint8_t*>(&s.since_ns), 8});
      } else {
        chunk({reinterpret_cast<const uint8_t*>(&c), sizeof(c)});
      }
    }
    return absl::OkStatus();
  }

  std::vector<tcpq_conn_filter> filters;

 private:
  std::vector<tcpq_connection> sockets_;
};

TEST(ConnectionsEndpointTest, TwoPassesKeepTheOldest) {
  std::vector<tcpq_connection> sockets;
  for (uint64_t i = 1; i <= 50; ++i) {
    sockets.push_back(
        Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", i, i * 1000));
  }
  FakeWalk walk(sockets);
  Endpoint endpoint(
      [&](const tcpq_conn_filter& f,
          absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
        return walk(f, chunk);
      },
      nullptr);
  const Response r = endpoint.Handle("limit=3&port=80");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  // The oldest are the smallest since_ns: cookies 1, 2, 3 in that order.
  const size_t c1 = r.body.find("\"cookie\":1}");
  const size_t c2 = r.body.find("\"cookie\":2}");
  const size_t c3 = r.body.find("\"cookie\":3}");
  EXPECT_NE(c1, std::string::npos);
  EXPECT_LT(c1, c2);
  EXPECT_LT(c2, c3);
  EXPECT_EQ(r.body.find("\"cookie\":4}"), std::string::npos);
  ASSERT_EQ(walk.filters.size(), 2u);
  EXPECT_EQ(walk.filters[0].since_only, 1);
  EXPECT_EQ(walk.filters[1].since_only, 0);
  EXPECT_EQ(walk.filters[1].max_since_ns, 3000u);  // the 3rd oldest
  EXPECT_EQ(walk.filters[1].port, 80);
}

TEST(ConnectionsEndpointTest, IdentityFiltersTakeOnePassAndBadQueries400) {
  FakeWalk walk({Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 1, 5),
                 Raw(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 2, 6,
                     /*netns=*/2)});
  Endpoint endpoint(
      [&](const tcpq_conn_filter& f,
          absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
        return walk(f, chunk);
      },
      [] {
        return [](const tcpq_connection& c) {
          return Identity{"shop", c.socket.netns == 1 ? "web-0" : "web-1", ""};
        };
      });
  const Response r = endpoint.Handle("pod=web-1&format=text");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("web-1"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("web-0")));
  EXPECT_EQ(walk.filters.size(), 1u);
  const Response bad = endpoint.Handle("limit=x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "limit must be 1-10000, got \"x\"\n");
}

TEST(ConnectionsEndpointTest, ASecondRequestWhileOneRunsGets429) {
  absl::Notification walking, release;
  std::atomic<int> walks{0};
  Endpoint endpoint(
      [&](const tcpq_conn_filter&,
          absl::FunctionRef<void(std::span<const uint8_t>)>) {
        if (walks++ == 0) {  // the first request's first pass waits
          walking.Notify();
          release.WaitForNotification();
        }
        return absl::OkStatus();
      },
      nullptr);
  std::thread first([&] { EXPECT_EQ(endpoint.Handle("").status, 200); });
  walking.WaitForNotification();
  const Response second = endpoint.Handle("");
  EXPECT_EQ(second.status, 429);
  EXPECT_THAT(second.body, HasSubstr("another /connections request"));
  release.Notify();
  first.join();
  // And the next one runs again (released at once).
  EXPECT_EQ(endpoint.Handle("").status, 200);
}

TEST(ConnectionsEndpointTest, AWalkThatCannotRunIs503) {
  Endpoint endpoint(
      [](const tcpq_conn_filter&,
         absl::FunctionRef<void(std::span<const uint8_t>)>) {
        return absl::UnavailableError("BPF is off: no BTF");
      },
      nullptr);
  const Response r = endpoint.Handle("");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "BPF is off: no BTF\n");
}

}  // namespace
}  // namespace tcpq::connections
