// Where a field of /proc/net/snmp's Tcp line or /proc/net/netstat's TcpExt
// line is in read_netns' records (bpf/mib_fields.h), from enumerators as the
// kernel's BTF lists them, and the records' entries (bpf/walk_records.h).

#include "bpf/mib_fields.h"

#include <gtest/gtest.h>

#include <cstring>

#include "bpf/walk_records.h"

namespace tcpq::bpf {
namespace {

// A few enumerators as Linux 6.18 numbers them.
const MibEnumerators kEnumerators = {
    {"TCP_MIB_NUM", 0},
    {"TCP_MIB_ACTIVEOPENS", 5},
    {"TCP_MIB_CURRESTAB", 9},
    {"TCP_MIB_CSUMERRORS", 15},
    {"LINUX_MIB_NUM", 0},
    {"LINUX_MIB_TIMEWAITED", 10},
    {"LINUX_MIB_PAWSACTIVEREJECTED", 13},
    {"LINUX_MIB_PAWS_TW_REJECTED", 14},
    {"LINUX_MIB_LISTENOVERFLOWS", 20},
    {"LINUX_MIB_TCPSPURIOUS_RTX_HOSTQUEUES", 80},
    {"LINUX_MIB_PAWS_OLD_ACK", 12},
};

TEST(MibFieldIndexTest, FieldIsItsEnumeratorUpperCasedWithoutUnderscores) {
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, "ActiveOpens"), 5);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, "CurrEstab"), 9);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "ListenOverflows"),
            20);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "PAWSOldAck"), 12);
  EXPECT_EQ(
      MibFieldIndex(kEnumerators, kLinuxMibPrefix, "TCPSpuriousRtxHostQueues"),
      80);
}

TEST(MibFieldIndexTest, FieldsTheKernelNamesOtherwiseUseItsAliases) {
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "TW"), 10);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "PAWSActive"), 13);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "PAWSTimewait"), 14);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, "InCsumErrors"), 15);
  // An alias whose enumerator this kernel lacks is unknown, not guessed.
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "TWKilled"),
            std::nullopt);
}

TEST(MibFieldIndexTest, OnlyTheMibOfTheSectionIsSearched) {
  EXPECT_EQ(MibFieldIndex(kEnumerators, kLinuxMibPrefix, "ActiveOpens"),
            std::nullopt);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, "ListenOverflows"),
            std::nullopt);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, "NoSuchField"),
            std::nullopt);
  EXPECT_EQ(MibFieldIndex(kEnumerators, kTcpMibPrefix, ""), std::nullopt);
}

TEST(MibRecordTest, EntriesAreTheOnesTheKernelHasAndBadCountsAreInvalid) {
  tcpq_netns_record record;
  std::memset(&record, 0, sizeof(record));
  record.netns = 4026531840;
  record.tcp_mibs = 16;
  record.linux_mibs = 136;
  record.tcp[15] = 7;
  record.linux_mib[135] = 9;
  ASSERT_TRUE(IsValid(record));
  EXPECT_EQ(TcpMibEntries(record).size(), 16u);
  EXPECT_EQ(TcpMibEntries(record).back(), 7u);
  EXPECT_EQ(LinuxMibEntries(record).size(), 136u);
  EXPECT_EQ(LinuxMibEntries(record).back(), 9u);

  tcpq_netns_record too_many = record;
  too_many.tcp_mibs = TCPQ_TCP_MIB_SLOTS + 1;
  EXPECT_FALSE(IsValid(too_many));
  too_many = record;
  too_many.linux_mibs = TCPQ_LINUX_MIB_SLOTS + 1;
  EXPECT_FALSE(IsValid(too_many));
  tcpq_netns_record no_netns = record;
  no_netns.netns = 0;
  EXPECT_FALSE(IsValid(no_netns));
}

}  // namespace
}  // namespace tcpq::bpf
