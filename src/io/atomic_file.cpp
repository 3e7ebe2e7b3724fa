#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "core/error.h"

namespace moqa::io {

AtomicOutput::AtomicOutput(std::filesystem::path final_path) : final_(std::move(final_path)) {
  MOQA_CHECK(!final_.empty() && final_.has_filename(), "output path '", final_.string(), "' names no file");
  temp_ = final_;
  temp_ += ".tmp." + std::to_string(::getpid());
}

AtomicOutput::~AtomicOutput() { discard(); }

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : final_(std::move(other.final_)), temp_(std::move(other.temp_)), committed_(other.committed_) {
  other.temp_.clear();
  other.committed_ = true;  // the moved-from object owns nothing any more
}

AtomicOutput& AtomicOutput::operator=(AtomicOutput&& other) noexcept {
  if (this != &other) {
    discard();
    final_ = std::move(other.final_);
    temp_ = std::move(other.temp_);
    committed_ = other.committed_;
    other.temp_.clear();
    other.committed_ = true;
  }
  return *this;
}

namespace {

// Flushes a file's (or a directory's) data to the storage device. Without it a power loss after the rename
// can leave the final name pointing at an empty or partial file on journalling file systems.
void sync_to_storage(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail("cannot open '", path.string(), "' to flush it to storage: ", std::strerror(err));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (and /proc-like mounts) cannot sync a directory; the data itself was synced.
  if (rc != 0 && !(directory && (err == EINVAL || err == EROFS)))
    fail("cannot flush '", path.string(), "' to storage: ", std::strerror(err));
}

}  // namespace

void AtomicOutput::commit() {
  MOQA_CHECK(!committed_, "output '", final_.string(), "' was already committed");
  sync_to_storage(temp_, /*directory=*/false);
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
    const int err = errno;
    fail("cannot rename '", temp_.string(), "' to '", final_.string(), "': ", std::strerror(err));
  }
  committed_ = true;
  const std::filesystem::path directory = final_.has_parent_path() ? final_.parent_path() : ".";
  sync_to_storage(directory, /*directory=*/true);
}

void AtomicOutput::discard() noexcept {
  if (committed_ || temp_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove(temp_, ignored);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  AtomicOutput output(path);
  {
    std::ofstream out(output.temp_path(), std::ios::binary | std::ios::trunc);
    MOQA_CHECK(out, "cannot create '", output.temp_path().string(), "'");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    MOQA_CHECK(out, "cannot write '", output.temp_path().string(), "'");
  }
  output.commit();
}

}  // namespace moqa::io
