#include "procfs/snmp_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/string_view.h"
#include "procfs/proc_file.h"

namespace tcpq::procfs {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  absl::StatusOr<std::string> text =
      ReadFile(std::string(TCPQ_FIXTURES_DIR) + "/" + name);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

const double* Field(const MibSection& section, absl::string_view name) {
  for (const auto& [field, value] : section.fields) {
    if (field == name) return &value;
  }
  return nullptr;
}

// The section called `name`, or nullptr.
const MibSection* FindSection(const std::vector<MibSection>& sections,
                              absl::string_view name) {
  for (const MibSection& section : sections) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

TEST(SnmpParserTest, SectionOfAFile) {
  absl::StatusOr<MibSection> tcp =
      ParseMibSection(Fixture("snmp_6.18.txt"), "snmp", "Tcp");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->name, "Tcp");
  ASSERT_NE(Field(*tcp, "ActiveOpens"), nullptr);
  // Absent is an empty section, not zeros.
  EXPECT_EQ(ParseMibSection("Tcp: A\nTcp: 1\n", "snmp", "Udp").value(),
            (MibSection{"Udp", {}}));
  absl::StatusOr<MibSection> bad =
      ParseMibSection("Tcp: A B\nTcp: 1\n", "snmp", "Tcp");
  EXPECT_TRUE(absl::IsDataLoss(bad.status()));
  EXPECT_THAT(bad.status().message(), HasSubstr("/proc/net/snmp: "));
}

TEST(SnmpParserTest, ParsesNetstatOfKernel618) {
  absl::StatusOr<std::vector<MibSection>> sections =
      ParseMibText(Fixture("netstat_6.18.txt"));
  ASSERT_TRUE(sections.ok()) << sections.status();
  ASSERT_EQ(sections->size(), 3u);  // TcpExt, IpExt, MPTcpExt
  const MibSection* tcp_ext = FindSection(*sections, "TcpExt");
  ASSERT_NE(tcp_ext, nullptr);
  EXPECT_EQ(tcp_ext->fields.size(), 135u);
  EXPECT_NE(Field(*tcp_ext, "TCPRcvQDrop"), nullptr);
  EXPECT_NE(Field(*tcp_ext, "TCPReqQFullDrop"), nullptr);
  EXPECT_EQ(Field(*tcp_ext, "TCPPrequeued"), nullptr);
}

TEST(SnmpParserTest, ParsesNetstatOfKernel310WithoutNewerFields) {
  absl::StatusOr<std::vector<MibSection>> sections =
      ParseMibText(Fixture("netstat_3.10.txt"));
  ASSERT_TRUE(sections.ok()) << sections.status();
  const MibSection* tcp_ext = FindSection(*sections, "TcpExt");
  ASSERT_NE(tcp_ext, nullptr);
  EXPECT_EQ(*Field(*tcp_ext, "ListenOverflows"), 3843);
  EXPECT_EQ(*Field(*tcp_ext, "ListenDrops"), 3901);
  EXPECT_EQ(*Field(*tcp_ext, "TCPSynRetrans"), 18446744073709551615.0);
  EXPECT_NE(Field(*tcp_ext, "TCPPrequeued"), nullptr);
  EXPECT_EQ(Field(*tcp_ext, "TCPRcvQDrop"), nullptr);  // the kernel lacks it
  EXPECT_EQ(FindSection(*sections, "MPTcpExt"), nullptr);
}

TEST(SnmpParserTest, ParsesSnmpTcpOfBothKernels) {
  for (const char* name : {"snmp_6.18.txt", "snmp_3.10.txt"}) {
    absl::StatusOr<std::vector<MibSection>> sections =
        ParseMibText(Fixture(name));
    ASSERT_TRUE(sections.ok()) << name << ": " << sections.status();
    const MibSection* tcp = FindSection(*sections, "Tcp");
    ASSERT_NE(tcp, nullptr) << name;
    EXPECT_EQ(*Field(*tcp, "MaxConn"), -1) << name;  // the one signed field
    EXPECT_NE(Field(*tcp, "RetransSegs"), nullptr) << name;
  }
  absl::StatusOr<std::vector<MibSection>> old =
      ParseMibText(Fixture("snmp_3.10.txt"));
  const MibSection* tcp = FindSection(*old, "Tcp");
  EXPECT_EQ(*Field(*tcp, "ActiveOpens"), 5000);
  EXPECT_EQ(*Field(*tcp, "RetransSegs"), 8900);
  EXPECT_EQ(Field(*tcp, "InCsumErrors"), nullptr);
}

TEST(SnmpParserTest, ASectionIsReadWithoutTokenizingTheOthers) {
  // A value that is no integer in another section does not matter...
  absl::StatusOr<MibSection> tcp =
      ParseMibSection("Ip: A B\nIp: 1 x\nTcp: C D\nTcp: 3 4\n", "snmp", "Tcp");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->fields,
            (std::vector<std::pair<std::string, double>>{{"C", 3}, {"D", 4}}));
  // ...but one in the wanted section does, and so does a file whose lines
  // slipped (another section's header followed by the wanted one's values).
  EXPECT_TRUE(absl::IsDataLoss(
      ParseMibSection("Tcp: C D\nTcp: 3 y\n", "snmp", "Tcp").status()));
  EXPECT_TRUE(absl::IsDataLoss(
      ParseMibSection("Ip: A\nTcp: 1\nTcp: C\nIp: 3\n", "snmp", "Tcp")
          .status()));
  EXPECT_TRUE(absl::IsDataLoss(
      ParseMibSection("no colon\nat all\n", "snmp", "Tcp").status()));
}

TEST(SnmpParserTest, RejectsCountMismatch) {
  absl::StatusOr<std::vector<MibSection>> sections =
      ParseMibText("Tcp: A B C\nTcp: 1 2\n");
  ASSERT_FALSE(sections.ok());
  EXPECT_THAT(sections.status().message(), HasSubstr("3 names but 2 values"));
}

TEST(SnmpParserTest, RejectsMismatchedPrefixes) {
  absl::StatusOr<std::vector<MibSection>> sections =
      ParseMibText("Tcp: A\nUdp: 1\n");
  ASSERT_FALSE(sections.ok());
  EXPECT_THAT(sections.status().message(), HasSubstr("line 2"));
}

TEST(SnmpParserTest, RejectsHeaderWithoutValues) {
  EXPECT_FALSE(ParseMibText("Tcp: A B\nTcp: 1 2\nUdp: A\n").ok());
}

TEST(SnmpParserTest, RejectsNonNumericAndMissingPrefix) {
  EXPECT_THAT(ParseMibText("Tcp: A\nTcp: x1\n").status().message(),
              HasSubstr("not an integer"));
  EXPECT_THAT(ParseMibText("A B\n1 2\n").status().message(),
              HasSubstr("prefix"));
  EXPECT_FALSE(ParseMibText("Tcp: A\nTcp: 99999999999999999999999\n").ok());
}

TEST(SnmpParserTest, EmptyTextHasNoSections) {
  absl::StatusOr<std::vector<MibSection>> sections = ParseMibText("");
  ASSERT_TRUE(sections.ok());
  EXPECT_TRUE(sections->empty());
}

}  // namespace
}  // namespace tcpq::procfs
