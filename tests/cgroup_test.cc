#include "procfs/cgroup.h"

#include <gtest/gtest.h>

namespace tcpq::procfs {
namespace {

constexpr char kId[] =
    "4c6a1f3e0d6b2a7f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";

TEST(CgroupTest, SystemdDriverCgroupV2) {
  const std::string text =
      std::string(
          "0::/kubepods.slice/kubepods-burstable.slice/"
          "kubepods-burstable-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc.slice/"
          "cri-containerd-") +
      kId + ".scope\n";
  EXPECT_EQ(ParsePodIdentity(text),
            (PodIdentity{"3f7d1c2a-1b2c-4d5e-8f90-123456789abc", kId}));
}

TEST(CgroupTest, CgroupfsDriverCgroupV1) {
  const std::string text = std::string(
                               "12:pids:/kubepods/besteffort/"
                               "pod3f7d1c2a-1b2c-4d5e-8f90-123456789abc/") +
                           kId +
                           "\n11:memory:/kubepods/besteffort/"
                           "pod3f7d1c2a-1b2c-4d5e-8f90-123456789abc/" +
                           kId + "\n";
  EXPECT_EQ(ParsePodIdentity(text),
            (PodIdentity{"3f7d1c2a-1b2c-4d5e-8f90-123456789abc", kId}));
}

TEST(CgroupTest, GuaranteedPodWithCrio) {
  const std::string text =
      std::string(
          "0::/kubepods.slice/"
          "kubepods-pod3f7d1c2a_1b2c_4d5e_8f90_123456789abc.slice/crio-") +
      kId + ".scope\n";
  EXPECT_EQ(ParsePodIdentity(text).pod_uid,
            "3f7d1c2a-1b2c-4d5e-8f90-123456789abc");
  EXPECT_EQ(ParsePodIdentity(text).container_id, kId);
}

TEST(CgroupTest, OutsideKubernetesIsEmpty) {
  EXPECT_EQ(ParsePodIdentity("0::/system.slice/ssh.service\n"), PodIdentity{});
  EXPECT_EQ(ParsePodIdentity("0::/kubepods.slice/notapod.slice\n"),
            PodIdentity{});
  EXPECT_EQ(ParsePodIdentity(""), PodIdentity{});
  EXPECT_EQ(ParsePodIdentity("garbage without colons kubepods"), PodIdentity{});
}

}  // namespace
}  // namespace tcpq::procfs
