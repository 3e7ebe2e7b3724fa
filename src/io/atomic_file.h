#pragma once
// Outputs are written under a temporary name next to their final path and renamed into place only when
// complete, so a crash or an exception never leaves a half-written file that looks finished.
#include <filesystem>
#include <string_view>

namespace moqa::io {

class AtomicOutput {
 public:
  // The temporary path is "<final>.tmp.<pid>" in the same directory (rename stays on one file system).
  explicit AtomicOutput(std::filesystem::path final_path);
  ~AtomicOutput();  // removes the temporary file unless commit() succeeded
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  AtomicOutput(AtomicOutput&& other) noexcept;
  AtomicOutput& operator=(AtomicOutput&& other) noexcept;

  const std::filesystem::path& final_path() const { return final_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  bool committed() const { return committed_; }

  // Flushes the temporary file to storage, renames it to the final path (replacing an existing file) and
  // flushes the directory, so the final name never points at a partial file, not even after a power loss.
  // Throws moqa::Error.
  void commit();

 private:
  void discard() noexcept;

  std::filesystem::path final_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Writes `contents` to a temporary file and renames it to `path` (replacing an existing file). Throws
// moqa::Error naming the file.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace moqa::io
