#include "model/hidden_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace moqa::model {

ScratchFile::ScratchFile(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int err = errno;
    fail("cannot create the scratch file '", path_.string(), "' for hidden states that exceed ",
         "runtime.hidden_state_memory_mib: ", std::strerror(err),
         err == EEXIST ? " (left by another run? remove it)" : "",
         "; raise the budget or make the output directory writable");
  }
  // Unlinked at once: the name goes now, the space when the descriptor closes, however the process ends.
  if (::unlink(path_.c_str()) != 0) {
    const int err = errno;
    ::close(fd_);
    fail("cannot unlink the scratch file '", path_.string(), "': ", std::strerror(err));
  }
}

ScratchFile::~ScratchFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ScratchFile::write(int64_t offset_bytes, const void* data, int64_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd_, p, static_cast<size_t>(bytes), static_cast<off_t>(offset_bytes));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      fail("cannot write ", bytes, " bytes at byte offset ", offset_bytes, " of the scratch file '", path_.string(),
           "' (hidden states beyond runtime.hidden_state_memory_mib): ", std::strerror(err));
    }
    p += n;
    bytes -= n;
    offset_bytes += n;
  }
}

void ScratchFile::read(int64_t offset_bytes, void* data, int64_t bytes) const {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd_, p, static_cast<size_t>(bytes), static_cast<off_t>(offset_bytes));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      fail("cannot read ", bytes, " bytes at byte offset ", offset_bytes, " of the scratch file '", path_.string(),
           "': ", n == 0 ? "unexpected end of file" : std::strerror(err));
    }
    p += n;
    bytes -= n;
    offset_bytes += n;
  }
}

std::filesystem::path hidden_scratch_path(const std::filesystem::path& dir, std::string_view purpose, int rank) {
  return dir / cat(".", purpose, "-hidden-rank", rank, "-pid", ::getpid(), ".scratch");
}

HiddenStateStore::HiddenStateStore(backend::Backend& backend, int64_t memory_budget_bytes,
                                   std::filesystem::path scratch_path)
    : backend_(backend), budget_bytes_(memory_budget_bytes), scratch_path_(std::move(scratch_path)) {
  MOQA_CHECK(memory_budget_bytes >= 0, "hidden state memory budget of ", memory_budget_bytes, " bytes, expected >= 0");
}

void HiddenStateStore::write_spilled(const Slot& slot, const HiddenStates& batch) {
  const Tensor host = backend_.download(batch.values);
  MOQA_CHECK(static_cast<int64_t>(host.data.size()) * static_cast<int64_t>(sizeof(float)) == slot.bytes(),
             "hidden state store: a batch of ", host.data.size(), " values, expected ", slot.bytes() / 4);
  scratch_->write(slot.offset_bytes, host.data.data(), slot.bytes());
}

size_t HiddenStateStore::add(HiddenStates batch) {
  Slot slot{.windows = batch.windows, .seq_len = batch.seq_len, .hidden = batch.values.cols(), .resident = {},
            .offset_bytes = -1, .taken = false};
  if (slot.bytes() == 0 || in_memory_bytes_ + slot.bytes() <= budget_bytes_) {
    in_memory_bytes_ += slot.bytes();
    slot.resident = std::move(batch);
  } else {
    if (!scratch_) scratch_.emplace(scratch_path_);
    slot.offset_bytes = spilled_bytes_;
    spilled_bytes_ += slot.bytes();
    write_spilled(slot, batch);
  }
  slots_.push_back(std::move(slot));
  return slots_.size() - 1;
}

HiddenStates HiddenStateStore::take(size_t index) {
  MOQA_CHECK(index < slots_.size() && !slots_[index].taken, "hidden state store: batch ", index,
             " is not there to take");
  Slot& slot = slots_[index];
  slot.taken = true;
  if (slot.offset_bytes < 0) {
    HiddenStates out = std::move(*slot.resident);
    slot.resident.reset();
    return out;
  }
  Tensor host({slot.windows * slot.seq_len, slot.hidden});
  scratch_->read(slot.offset_bytes, host.data.data(), slot.bytes());
  return HiddenStates{slot.windows, slot.seq_len, backend_.upload(host)};
}

void HiddenStateStore::put(size_t index, HiddenStates batch) {
  MOQA_CHECK(index < slots_.size() && slots_[index].taken, "hidden state store: batch ", index, " was not taken");
  Slot& slot = slots_[index];
  MOQA_CHECK(batch.windows == slot.windows && batch.seq_len == slot.seq_len && batch.values.cols() == slot.hidden,
             "hidden state store: batch ", index, " came back with another shape");
  slot.taken = false;
  if (slot.offset_bytes < 0)
    slot.resident = std::move(batch);
  else
    write_spilled(slot, batch);
}

}  // namespace moqa::model
