#include "io/atomic_file.h"

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

void AtomicOutput::commit() {
  MOQA_CHECK(!committed_, "output '", final_.string(), "' was already committed");
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
    const int err = errno;
    fail("cannot rename '", temp_.string(), "' to '", final_.string(), "': ", std::strerror(err));
  }
  committed_ = true;
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
