#include "procfs/metric_name.h"

#include <gtest/gtest.h>

namespace tcpq::procfs {
namespace {

TEST(MetricNameTest, FollowsTheDocumentedRule) {
  const std::pair<const char*, const char*> cases[] = {
      {"ListenOverflows", "listen_overflows"},
      {"ListenDrops", "listen_drops"},
      {"TCPReqQFullDrop", "req_q_full_drop"},
      {"TCPReqQFullDoCookies", "req_q_full_do_cookies"},
      {"SyncookiesSent", "syncookies_sent"},
      {"TCPSynRetrans", "syn_retrans"},
      {"TCPDSACKOldSent", "dsack_old_sent"},
      {"TCPDSACKOfoRecv", "dsack_ofo_recv"},
      {"TCPOFOQueue", "ofo_queue"},
      {"TCPSpuriousRTOs", "spurious_rtos"},
      {"TCPRcvQDrop", "rcv_q_drop"},
      {"TCPMD5NotFound", "md5_not_found"},
      {"TW", "tw"},
      {"TWRecycled", "tw_recycled"},
      {"CurrEstab", "curr_estab"},
      {"InCsumErrors", "in_csum_errors"},
      {"TCP", "tcp"},
      {"Odd-Name.x", "odd_name_x"},
  };
  for (const auto& [field, expected] : cases) {
    EXPECT_EQ(MibFieldToSnakeCase(field), expected) << field;
  }
}

}  // namespace
}  // namespace tcpq::procfs
