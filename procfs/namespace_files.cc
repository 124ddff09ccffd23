#include "procfs/namespace_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tcpq::procfs {

NamespaceFiles::NamespaceFiles(std::vector<std::string> paths, size_t max_size)
    : paths_(std::move(paths)),
      max_size_(max_size),
      scratch_(paths_.size() * max_size, '\0') {}

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
    const Opened& opened) {
  std::vector<size_t> lengths(paths_.size(), 0);
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (!opened.fds[i].valid()) continue;
    ssize_t n;
    do {
      n = ::pread(opened.fds[i].get(), &scratch_[i * max_size_], max_size_,
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
  auto cached = opened_.find(inode);
  const bool was_open = cached != opened_.end();
  if (!was_open) {
    absl::StatusOr<Opened> opened = Open();
    if (!opened.ok()) return opened.status();
    cached = opened_.emplace(inode, *std::move(opened)).first;
  }
  absl::StatusOr<std::vector<size_t>> lengths = ReadAll(cached->second);
  if (absl::IsNotFound(lengths.status()) && was_open) {
    // Files of a namespace that died and whose inode number a new one
    // reuses: open the new namespace's.
    absl::StatusOr<Opened> reopened = Open();
    if (!reopened.ok()) {
      opened_.erase(cached);
      return reopened.status();
    }
    cached->second = *std::move(reopened);
    lengths = ReadAll(cached->second);
  }
  if (!lengths.ok()) {
    opened_.erase(cached);
    return lengths.status();
  }
  cached->second.read_this_scrape = true;
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (!cached->second.fds[i].valid()) continue;
    absl::Status used =
        use(i, absl::string_view(&scratch_[i * max_size_], (*lengths)[i]));
    if (!used.ok()) return used;
  }
  return absl::OkStatus();
}

void NamespaceFiles::EndScrape() {
  absl::erase_if(opened_, [](const auto& entry) {
    return !entry.second.read_this_scrape;
  });
  for (auto& [inode, opened] : opened_) opened.read_this_scrape = false;
}

}  // namespace tcpq::procfs
