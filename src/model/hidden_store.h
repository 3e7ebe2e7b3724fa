#pragma once
// The residual streams of every batch a rank holds between two layers of a layer-major pass (calibration,
// analysis/calibrate.h; evaluation under stream_weights, forward.h's forward_layers_layer_major). Batches are
// kept as backend arrays while their float32 bytes fit the budget (runtime.hidden_state_memory_mib, per rank);
// the batches beyond it live in a scratch file, each at a fixed offset (a batch keeps its shape from layer to
// layer), read back before its forward and written again after it. Which batches spill is decided when they
// are added, in order, so the first ones stay in memory. The spilled path gives the same values bit for bit
// (float32 written and read unchanged).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"

namespace moqa::model {

// A scratch file owned by one object: created exclusively (an existing file is an error, never
// overwritten) and unlinked right after it is opened, so that it disappears when this process ends
// however it ends (an MPI_Abort from another rank included); the descriptor is closed on destruction,
// which frees the space. Errors name the path.
class ScratchFile {
 public:
  explicit ScratchFile(std::filesystem::path path);
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile();

  void write(int64_t offset_bytes, const void* data, int64_t bytes);
  void read(int64_t offset_bytes, void* data, int64_t bytes) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Where a layer-major pass keeps hidden states: this many float32 bytes as arrays, the rest in a scratch
// file at scratch_path (created only when a batch spills). The default never spills.
struct HiddenSpill {
  int64_t memory_budget_bytes = INT64_MAX;
  std::filesystem::path scratch_path;
};

// The scratch file of one process's layer-major pass: `dir`/.<purpose>-hidden-rank<r>-pid<p>.scratch (rank and
// process id keep ranks of one job, on one host or several sharing `dir`, apart).
std::filesystem::path hidden_scratch_path(const std::filesystem::path& dir, std::string_view purpose, int rank);

class HiddenStateStore {
 public:
  // memory_budget_bytes: the float32 bytes of hidden states kept as arrays; scratch_path: where the rest
  // goes (created only when a batch spills).
  HiddenStateStore(backend::Backend& backend, int64_t memory_budget_bytes, std::filesystem::path scratch_path);
  HiddenStateStore(backend::Backend& backend, const HiddenSpill& spill)
      : HiddenStateStore(backend, spill.memory_budget_bytes, spill.scratch_path) {}

  size_t add(HiddenStates batch);       // returns the batch's index
  HiddenStates take(size_t index);      // the batch (read back from the scratch file if spilled)
  void put(size_t index, HiddenStates batch);  // after its forward: same shape as taken

  size_t size() const { return slots_.size(); }
  int64_t bytes_in_memory() const { return in_memory_bytes_; }
  int64_t bytes_spilled() const { return spilled_bytes_; }
  const std::filesystem::path& scratch_path() const { return scratch_path_; }

 private:
  struct Slot {
    int64_t windows = 0, seq_len = 0, hidden = 0;
    std::optional<HiddenStates> resident;  // empty when spilled (or taken)
    int64_t offset_bytes = -1;                    // >= 0: spilled at this offset
    bool taken = false;
    int64_t bytes() const { return windows * seq_len * hidden * static_cast<int64_t>(sizeof(float)); }
  };
  void write_spilled(const Slot& slot, const HiddenStates& batch);

  backend::Backend& backend_;
  int64_t budget_bytes_;
  std::filesystem::path scratch_path_;
  std::optional<ScratchFile> scratch_;
  std::vector<Slot> slots_;
  int64_t in_memory_bytes_ = 0;
  int64_t spilled_bytes_ = 0;
};

}  // namespace moqa::model
