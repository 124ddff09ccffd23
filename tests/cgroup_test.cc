#include "procfs/cgroup.h"

#include <gtest/gtest.h>

#include <string>

namespace tcpq::procfs {
namespace {

constexpr char kId[] =
    "4c6a1f3e0d6b2a7f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";
constexpr char kUid[] = "3f7d1c2a-1b2c-4d5e-8f90-123456789abc";

std::string S(const char* text) { return text; }

TEST(CgroupTest, SystemdDriverCgroupV2) {
  const std::string text =
      S("0::/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc.slice/"
        "cri-containerd-") +
      kId + ".scope\n";
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
}

TEST(CgroupTest, CgroupfsDriverCgroupV1) {
  const std::string text = S("12:pids:/kubepods/besteffort/pod") + kUid + "/" +
                           kId + "\n11:memory:/kubepods/besteffort/pod" + kUid +
                           "/" + kId + "\n";
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
}

TEST(CgroupTest, HybridSystemdDriverReadsTheUnifiedLine) {
  // Controllers of v1 in the node's root (as this CI host has them), the
  // pod in name=systemd and the v2 unified hierarchy.
  const std::string pod =
      S("/kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc.slice/"
        "cri-containerd-") +
      kId + ".scope";
  const std::string text = "4:memory:/\n1:name=systemd:" + pod + "\n0::" + pod;
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
}

TEST(CgroupTest, SeenFromAContainersOwnCgroupNamespace) {
  // A reader in a private cgroup namespace (containerd's default on cgroup
  // v2) sees other processes' paths relative to its own cgroup.
  const std::string text =
      S("0::/../../kubepods-burstable-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc"
        ".slice/cri-containerd-") +
      kId + ".scope\n";
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
  EXPECT_EQ(ParseCgroup("0::/../../../system.slice/nginx.service\n"),
            (CgroupIdentity{"", "", "nginx.service"}));
}

TEST(CgroupTest, GuaranteedPodWithCrio) {
  const std::string text =
      S("0::/kubepods.slice/"
        "kubepods-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc.slice/crio-") +
      kId + ".scope\n";
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
}

TEST(CgroupTest, PodmanInAKubeletStyleCgroup) {
  const std::string text =
      S("0::/kubepods/besteffort/pod") + kUid + "/libpod-" + kId + "\n";
  EXPECT_EQ(ParseCgroup(text), (CgroupIdentity{kUid, kId, ""}));
}

TEST(CgroupTest, StaticPodUidIsAConfigHash) {
  EXPECT_EQ(ParseCgroup(S("0::/kubepods.slice/kubepods-burstable.slice/"
                          "kubepods-burstable-pod"
                          "0f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e.slice/"
                          "cri-containerd-") +
                        kId + ".scope\n")
                .pod_uid,
            "0f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e");
}

TEST(CgroupTest, SystemdServiceIsItsUnit) {
  EXPECT_EQ(ParseCgroup("0::/system.slice/nginx.service\n"),
            (CgroupIdentity{"", "", "nginx.service"}));
  // A child cgroup of the service; v1 with name=systemd.
  EXPECT_EQ(ParseCgroup("5:memory:/\n1:name=systemd:/system.slice/"
                        "containerd.service/worker\n"),
            (CgroupIdentity{"", "", "containerd.service"}));
  EXPECT_EQ(ParseCgroup("0::/user.slice/user-0.slice/session-3.scope\n"),
            CgroupIdentity{});
}

TEST(CgroupTest, DockerContainerOutsideKubernetes) {
  EXPECT_EQ(ParseCgroup(S("0::/system.slice/docker-") + kId + ".scope\n"),
            (CgroupIdentity{"", kId, ""}));
  EXPECT_EQ(ParseCgroup(S("9:name=systemd:/docker/") + kId + "\n"),
            (CgroupIdentity{"", kId, ""}));
}

TEST(CgroupTest, UnrecognisedTextIsEmpty) {
  EXPECT_EQ(ParseCgroup("0::/\n"), CgroupIdentity{});
  EXPECT_EQ(ParseCgroup("0::/kubepods.slice/notapod.slice\n"),
            CgroupIdentity{});
  EXPECT_EQ(ParseCgroup(""), CgroupIdentity{});
  EXPECT_EQ(ParseCgroup("garbage without colons kubepods"), CgroupIdentity{});
  EXPECT_EQ(ParseCgroup("0::/system.slice/.service\n"), CgroupIdentity{});
  // A pod UID one character short: no pod (its container is still one).
  EXPECT_EQ(ParseCgroup(S("0::/kubepods/pod") + std::string(kUid).substr(1) +
                        "/" + kId),
            (CgroupIdentity{"", kId, ""}));
  std::string bad_id = kId;
  bad_id[10] = 'g';
  EXPECT_EQ(ParseCgroup(S("0::/kubepods/pod") + kUid + "/" + bad_id),
            (CgroupIdentity{kUid, "", ""}));
}

}  // namespace
}  // namespace tcpq::procfs
