#include "procfs/socket_owner.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "procfs/unique_fd.h"

namespace tcpq::procfs {
namespace {

TEST(ParseSocketLinkTest, SocketInode) {
  EXPECT_EQ(ParseSocketLink("socket:[12345]"), 12345u);
  EXPECT_EQ(ParseSocketLink("socket:[18446744073709551615]"),
            18446744073709551615u);
  for (const char* other :
       {"socket:[]", "socket:[12a]", "socket:[-1]", "socket:12345",
        "pipe:[12345]", "/dev/null", "anon_inode:[eventfd]", "socket:[1",
        "socket:[99999999999999999999]", ""}) {
    EXPECT_EQ(ParseSocketLink(other), std::nullopt) << other;
  }
}

// A listening TCP socket of this process and its inode.
struct Listener {
  UniqueFd fd;
  uint64_t inode = 0;
};

Listener Listen() {
  Listener l;
  l.fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(
      ::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::listen(l.fd.get(), 1), 0);
  struct stat st {};
  EXPECT_EQ(::fstat(l.fd.get(), &st), 0);
  l.inode = st.st_ino;
  return l;
}

uint64_t OwnNetns() {
  struct stat st {};
  EXPECT_EQ(::stat("/proc/self/ns/net", &st), 0);
  return st.st_ino;
}

TEST(SocketOwnersTest, TheLowestPidHoldingTheSocketOwnsIt) {
  const Listener listener = Listen();
  // A child sharing the socket (a pre-forking server's worker).
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    ::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);

  SocketOwners owners;
  std::vector<int> pids = {::getpid(), child};
  std::sort(pids.begin(), pids.end());
  EXPECT_TRUE(owners.Update("/proc", OwnNetns(), pids, {listener.inode}).ok());
  const ProcessIdentity* owner = owners.Owner(listener.inode);
  ASSERT_NE(owner, nullptr);
  EXPECT_EQ(owner->pid, std::min(::getpid(), child));
  EXPECT_EQ(owner->comm, "tcpq_unit_tests");

  // Without the PID list it finds the namespace's processes itself.
  SocketOwners listing;
  EXPECT_TRUE(listing.Update("/proc", OwnNetns(), {}, {listener.inode}).ok());
  ASSERT_NE(listing.Owner(listener.inode), nullptr);
  EXPECT_EQ(listing.Owner(listener.inode)->pid, std::min(::getpid(), child));

  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(SocketOwnersTest, AnOwnerGoneIsLookedUpAgainAndStaleSocketsForgotten) {
  const Listener listener = Listen();
  SocketOwners owners;
  // Recorded as held by a PID that is not in the namespace any more.
  const std::vector<int> gone = {::getpid()};
  ASSERT_TRUE(owners.Update("/proc", OwnNetns(), gone, {listener.inode}).ok());
  ASSERT_NE(owners.Owner(listener.inode), nullptr);
  // The next scrape's list lacks the owner: looked up again, not found.
  const std::vector<int> others = {1};
  owners.Update("/proc", OwnNetns(), others, {listener.inode}).IgnoreError();
  EXPECT_EQ(owners.Owner(listener.inode), nullptr);
  // A socket not listed any more is forgotten.
  ASSERT_TRUE(owners.Update("/proc", OwnNetns(), gone, {listener.inode}).ok());
  ASSERT_TRUE(owners.Update("/proc", OwnNetns(), gone, {}).ok());
  EXPECT_EQ(owners.Owner(listener.inode), nullptr);
}

TEST(SocketOwnersTest, ProcessIdentityOfThisProcess) {
  absl::StatusOr<ProcessIdentity> self =
      ReadProcessIdentity("/proc", ::getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(self->comm, "tcpq_unit_tests");
  EXPECT_TRUE(
      absl::IsNotFound(ReadProcessIdentity("/proc", 0x7ffffff0).status()));
}

}  // namespace
}  // namespace tcpq::procfs
