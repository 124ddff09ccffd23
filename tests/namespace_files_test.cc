#include "procfs/namespace_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tcpq::procfs {
namespace {

class NamespaceFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/tcpq_namespace_files_XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const char* name : {"a", "b", "new"}) {
      std::remove((dir_ + "/" + name).c_str());
    }
    ::rmdir(dir_.c_str());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& content) const {
    std::ofstream(Path(name), std::ios::trunc) << content;
  }

  // Every (index, content) that Read passes on, or the error.
  static absl::StatusOr<std::vector<std::pair<size_t, std::string>>> ReadAll(
      NamespaceFiles& files, uint64_t inode) {
    std::vector<std::pair<size_t, std::string>> seen;
    absl::Status status =
        files.Read(inode, [&](size_t i, absl::string_view text) {
          seen.emplace_back(i, std::string(text));
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    return seen;
  }

  std::string dir_;
};

using Seen = std::vector<std::pair<size_t, std::string>>;

TEST_F(NamespaceFilesTest, ReadsEveryFileAndSkipsOnesTheKernelLacks) {
  Write("a", "1\n");
  Write("b", "two\n");
  NamespaceFiles files({Path("a"), Path("missing"), Path("b")}, 64);
  EXPECT_EQ(ReadAll(files, 7).value(), (Seen{{0, "1\n"}, {2, "two\n"}}));
}

TEST_F(NamespaceFilesTest, KeptFilesShowNewContentOnTheNextRead) {
  Write("a", "1\n");
  NamespaceFiles files({Path("a")}, 64);
  ASSERT_EQ(ReadAll(files, 7).value(), (Seen{{0, "1\n"}}));
  Write("a", "22\n");  // the same file, rewritten in place
  EXPECT_EQ(ReadAll(files, 7).value(), (Seen{{0, "22\n"}}));
}

TEST_F(NamespaceFilesTest, FilesOfANamespaceNotReadAreClosedAtTheEndOfAScrape) {
  Write("a", "old\n");
  NamespaceFiles files({Path("a")}, 64);
  ASSERT_EQ(ReadAll(files, 7).value(), (Seen{{0, "old\n"}}));
  ASSERT_EQ(ReadAll(files, 8).value(), (Seen{{0, "old\n"}}));
  files.EndScrape();
  // A new file under the same name: an open descriptor still reads the old.
  Write("new", "new\n");
  ASSERT_EQ(std::rename(Path("new").c_str(), Path("a").c_str()), 0);
  ASSERT_EQ(ReadAll(files, 7).value(), (Seen{{0, "old\n"}}));  // kept
  files.EndScrape();  // 8 was not read in this scrape: closed
  EXPECT_EQ(ReadAll(files, 8).value(), (Seen{{0, "new\n"}}));
}

TEST_F(NamespaceFilesTest, AFileAsLongAsTheBoundIsDataLossNotCutShort) {
  Write("a", std::string(16, 'x'));
  NamespaceFiles files({Path("a")}, 16);
  EXPECT_TRUE(absl::IsDataLoss(ReadAll(files, 7).status()));
  Write("a", std::string(15, 'x'));
  EXPECT_EQ(ReadAll(files, 7).value(), (Seen{{0, std::string(15, 'x')}}));
}

TEST_F(NamespaceFilesTest, AnErrorFromUseIsReturned) {
  Write("a", "1\n");
  NamespaceFiles files({Path("a")}, 64);
  const absl::Status status = files.Read(
      7, [](size_t, absl::string_view) { return absl::DataLossError("bad"); });
  EXPECT_EQ(status, absl::DataLossError("bad"));
}

}  // namespace
}  // namespace tcpq::procfs
