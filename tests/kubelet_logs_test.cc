#include "procfs/kubelet_logs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace tcpq::procfs {
namespace {

constexpr char kUid[] = "3f7d1c2a-1b2c-4d5e-8f90-123456789abc";
constexpr char kId[] =
    "4c6a1f3e0d6b2a7f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";

std::string S(const char* s) { return s; }

TEST(ParsePodLogDirTest, NamespacePodUid) {
  EXPECT_EQ(ParsePodLogDir(S("shop_checkout-7d9f-abcde_") + kUid),
            (PodName{"shop", "checkout-7d9f-abcde", kUid}));
  // A static pod: a dotted name (node name) and its config hash as UID.
  EXPECT_EQ(ParsePodLogDir("kube-system_etcd-node1.example.com_"
                           "0f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e"),
            (PodName{"kube-system", "etcd-node1.example.com",
                     "0f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e"}));
}

TEST(ParsePodLogDirTest, AnythingElseIsRejected) {
  for (const std::string& name :
       {S("nounderscore"), S("a_b"), S("shop_checkout_") + kUid + "_x",
        S("Shop_checkout_") + kUid,                         // upper case
        S("shop_check\"out_") + kUid,                       // needs escaping
        S("shop_check\nout_") + kUid,                       // a newline
        S("shop_-checkout_") + kUid,                        // starts with '-'
        S("shop_checkout_") + std::string(kUid).substr(1),  // short UID
        S("shop_checkout_3F7D1C2A-1B2C-4D5E-8F90-123456789ABC"),
        std::string(64, 'a') + "_pod_" + kUid,            // namespace > 63
        S("shop_") + std::string(300, 'a') + "_" + kUid,  // pod > 253
        S(""), S("__")}) {
    EXPECT_EQ(ParsePodLogDir(name), std::nullopt) << name;
  }
}

TEST(ParseContainerLogNameTest, PodNamespaceContainerId) {
  EXPECT_EQ(ParseContainerLogName(S("checkout-7d9f-abcde_shop_app-server-") +
                                  kId + ".log"),
            (ContainerLog{"checkout-7d9f-abcde", "shop", "app-server", kId}));
}

TEST(ParseContainerLogNameTest, AnythingElseIsRejected) {
  for (const std::string& name :
       {S("checkout_shop_app-") + kId,             // no .log
        S("checkout_shop_app-") + kId + ".log.1",  // rotated
        S("checkout_shop-") + kId + ".log",        // two parts
        S("checkout_shop_app_x-") + kId + ".log",  // four parts
        S("checkout_shop_app-") + std::string(kId).substr(1) + ".log",
        S("checkout_shop_App-") + kId + ".log", S(".log"), S("-.log")}) {
    EXPECT_EQ(ParseContainerLogName(name), std::nullopt) << name;
  }
}

class KubeletLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/tcpq_varlog_XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    varlog_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(varlog_); }
  void MakePodDir(const std::string& name) {
    std::filesystem::create_directories(varlog_ + "/pods/" + name);
  }
  void MakeContainerLink(const std::string& name) {
    std::filesystem::create_directories(varlog_ + "/containers");
    // As the kubelet makes it: a symlink into pods/ (never followed here).
    std::filesystem::create_symlink("/nonexistent/0.log",
                                    varlog_ + "/containers/" + name);
  }
  std::string varlog_;
};

TEST_F(KubeletLogsTest, NamesPodsAndContainersAndSeesChanges) {
  KubeletLogs logs(varlog_);
  KubeletLogs::Refreshed refreshed = logs.Refresh();
  EXPECT_TRUE(refreshed.error.ok()) << refreshed.error;  // none yet: fine
  EXPECT_EQ(logs.Pod(kUid), nullptr);

  MakePodDir(S("shop_checkout_") + kUid);
  MakeContainerLink(S("checkout_shop_app-") + kId + ".log");
  refreshed = logs.Refresh();
  ASSERT_TRUE(refreshed.error.ok()) << refreshed.error;
  EXPECT_TRUE(refreshed.rejected.empty());
  ASSERT_NE(logs.Pod(kUid), nullptr);
  EXPECT_EQ(*logs.Pod(kUid), (PodName{"shop", "checkout", kUid}));
  ASSERT_NE(logs.Container(kId), nullptr);
  EXPECT_EQ(logs.Container(kId)->container, "app");

  // The pod deleted and made again under the same name: a new UID.
  constexpr char kNewUid[] = "aaaaaaaa-1b2c-4d5e-8f90-123456789abc";
  std::filesystem::remove(varlog_ + "/pods/shop_checkout_" + kUid);
  MakePodDir(S("shop_checkout_") + kNewUid);
  ASSERT_TRUE(logs.Refresh().error.ok());
  EXPECT_EQ(logs.Pod(kUid), nullptr);
  ASSERT_NE(logs.Pod(kNewUid), nullptr);
  EXPECT_EQ(logs.Pod(kNewUid)->pod, "checkout");
}

TEST_F(KubeletLogsTest, HostileNamesAreReportedOnceAndNeverUsed) {
  MakePodDir("no-underscore");
  // As long as a file name can be (255 bytes): a 64-character namespace.
  MakePodDir(std::string(64, 'n') + "_" + std::string(153, 'p') + "_" + kUid);
  MakePodDir(S("shop_we\\ird\"name_") + kUid);
  // A symlink loop where a pod directory should be.
  std::filesystem::create_symlink(varlog_ + "/pods/loop",
                                  varlog_ + "/pods/loop");
  KubeletLogs logs(varlog_);
  KubeletLogs::Refreshed refreshed = logs.Refresh();
  EXPECT_TRUE(refreshed.error.ok()) << refreshed.error;
  EXPECT_EQ(refreshed.rejected.size(), 4u);
  EXPECT_EQ(logs.Pod(kUid), nullptr);
  // A change elsewhere: the same bad names are not reported again.
  MakePodDir(S("shop_checkout_") + kUid);
  refreshed = logs.Refresh();
  EXPECT_TRUE(refreshed.rejected.empty());
  ASSERT_NE(logs.Pod(kUid), nullptr);
}

}  // namespace
}  // namespace tcpq::procfs
