#pragma once
// How much memory each rank will need, per stage, before any weight is read: --dry-run prints it, and a
// run whose plan exceeds runtime.memory_limit is refused with the stage, the term that does not fit and
// the number of ranks that would make it fit. The terms follow what the stages hold at their peak
// (docs/PERFORMANCE.md "Memory plan" gives each formula and the measured agreement): weights resident
// (one decoder layer with runtime.stream_weights, every layer otherwise; routed experts only those the
// rank owns, dist/shard_plan.h), hidden states of the layer-major passes, the forward working set of one
// batch, calibration accumulators, GPTQ Hessians, the quantized weights, evaluation logits chunks.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/experiment.h"
#include "io/hf_config.h"

namespace moqa::plan {

struct MemoryTerm {
  std::string name;  // "weights resident"
  uint64_t bytes = 0;
};

struct StageMemory {
  config::Stage stage = config::Stage::calibrate;
  std::vector<MemoryTerm> terms;
  uint64_t total() const;
  const MemoryTerm& largest() const;
};

struct RankMemory {
  int rank = 0;
  std::vector<StageMemory> stages;  // the experiment's stages, in order
};

// Where the bytes live and how many there are.
struct MemoryTarget {
  bool device = false;           // CUDA: the plan counts device memory (weights as bf16 matrices)
  uint64_t limit_bytes = 0;      // runtime.memory_limit, or what the machine / device has available
  std::string limit_source;      // "runtime.memory_limit", "MemAvailable of /proc/meminfo", "free memory of CUDA device 0"
  // Calibration hidden states kept in memory per rank (runtime.hidden_state_memory_mib); beyond it they
  // are spilled to a scratch file.
  uint64_t hidden_state_budget_bytes = uint64_t{4096} << 20;
};

struct MemoryPlan {
  int ranks = 1;
  MemoryTarget target;
  std::vector<RankMemory> per_rank;
};

// runtime.memory_limit ("auto" or "<number> KiB|MiB|GiB|TiB"), runtime.hidden_state_memory_mib and
// runtime.device for a rank that is one of `ranks_on_node` on its node: "auto" divides the node's available
// memory among them (backend/factory.h available_memory; CUDA ranks each have a device). Throws naming
// the key for a malformed size.
MemoryTarget memory_target(std::string_view memory_limit, int64_t hidden_state_memory_mib, config::Device device,
                           int local_rank, int ranks_on_node);

MemoryPlan plan_memory(const config::Experiment& experiment, const ModelConfig& model, int ranks,
                       const MemoryTarget& target);

// The per-rank, per-stage table for --dry-run (ranks with identical plans are shown once).
std::string format_memory_plan(const MemoryPlan& plan);

// Throws moqa::Error when some rank's stage exceeds the limit, naming the rank, the stage, its largest
// term and the smallest rank count (up to 4096) whose plan fits, or saying that none does.
void check_memory_plan(const MemoryPlan& plan, const config::Experiment& experiment, const ModelConfig& model);

}  // namespace moqa::plan
