#include "procfs/namespace_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tcpq::procfs {

NamespaceFiles::NamespaceFiles(std::vector<std::string> paths, size_t max_size)
    : paths_(std::move(paths)), max_size_(max_size) {}

absl::StatusOr<NamespaceFiles::Opened> NamespaceFiles::Open() const {
  Opened opened;
  for (const std::string& path : paths_) {
    UniqueFd& fd =
        opened.fds.emplace_back(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    }
  }
  return opened;
}

absl::StatusOr<std::vector<size_t>> NamespaceFiles::ReadAll(
    const Opened& opened, std::string& scratch) const {
  std::vector<size_t> lengths(paths_.size(), 0);
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (!opened.fds[i].valid()) continue;
    ssize_t n;
    do {
      n = ::pread(opened.fds[i].get(), &scratch[i * max_size_], max_size_,
                  /*offset=*/0);
    } while (n < 0 && errno == EINTR);
    // ENOENT (NotFound): a /proc/sys file whose namespace is gone.
    if (n < 0) return absl::ErrnoToStatus(errno, "read " + paths_[i]);
    if (static_cast<size_t>(n) == max_size_) {
      return absl::DataLossError(absl::StrCat(paths_[i], ": longer than the ",
                                              max_size_, " bytes expected"));
    }
    lengths[i] = static_cast<size_t>(n);
  }
  return lengths;
}

absl::Status NamespaceFiles::Read(uint64_t inode, UseFn use) {
  Opened* opened;
  bool was_open;
  {
    absl::MutexLock lock(&mutex_);
    std::unique_ptr<Opened>& slot = opened_[inode];
    was_open = slot != nullptr;
    if (!was_open) {
      absl::StatusOr<Opened> fresh = Open();
      if (!fresh.ok()) {
        opened_.erase(inode);
        return fresh.status();
      }
      slot = std::make_unique<Opened>(*std::move(fresh));
    }
    opened = slot.get();
  }
  // One buffer per thread, reused: the files are read concurrently only
  // from different threads.
  thread_local std::string scratch;
  if (scratch.size() < paths_.size() * max_size_) {
    scratch.resize(paths_.size() * max_size_);
  }
  absl::StatusOr<std::vector<size_t>> lengths = ReadAll(*opened, scratch);
  if (absl::IsNotFound(lengths.status()) && was_open) {
    // Files of a namespace that died and whose inode number a new one
    // reuses: open the new namespace's.
    absl::StatusOr<Opened> reopened = Open();
    if (reopened.ok()) {
      *opened = *std::move(reopened);
      lengths = ReadAll(*opened, scratch);
    } else {
      lengths = reopened.status();
    }
  }
  if (!lengths.ok()) {
    absl::MutexLock lock(&mutex_);
    opened_.erase(inode);
    return lengths.status();
  }
  opened->read_this_scrape = true;
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (!opened->fds[i].valid()) continue;
    absl::Status used =
        use(i, absl::string_view(&scratch[i * max_size_], (*lengths)[i]));
    if (!used.ok()) return used;
  }
  return absl::OkStatus();
}

void NamespaceFiles::EndScrape() {
  absl::MutexLock lock(&mutex_);
  absl::erase_if(opened_, [](const auto& entry) {
    return !entry.second->read_this_scrape;
  });
  for (auto& [inode, opened] : opened_) opened->read_this_scrape = false;
}

}  // namespace tcpq::procfs
