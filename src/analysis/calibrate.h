#pragma once
// PASS 1 of the pipeline: the full-precision forward over the calibration distributions with the
// statistics observer, the reduction of the ranks' statistics and the derived MoQa quantities.
//
// Execution (every rank, collective over CalibrationWorld::comm), layer-major as the quantize pass:
//   - each distribution's global sample list is split contiguously over the ranks (data::shard_range), and
//     each rank cuts its share into batches of batch_windows; all ranks have the same number of batches
//     per distribution (a rank without windows left has an empty one, so that every rank enters the
//     expert executor for every MoE layer equally often);
//   - every batch of every distribution is embedded once; then for each decoder layer in order, every
//     batch (distributions in order, batches in order) runs through that layer: the layer's weights are
//     loaded once per run (with runtime.stream_weights, then released when the next layer loads);
//   - input-side statistics are accumulated where the tokens are, output-side ones (output measures of
//     analysis.channel_significance) on each expert's owner (statistics_observer.h), into one accumulator
//     per distribution for the layer in flight; with token re-weighting each batch's factors of every
//     rank are gathered once before the first layer (MPI_Allgatherv of one float64 per token), so that an
//     owner can weigh rows from every rank;
//   - after a MoE layer's last batch: its saliency weight norms (from the experts' owners) and accumulators
//     are reduced to rank 0, which derives the layer's statistics (significance.h); the other ranks free
//     theirs.
// Each sum is added in the same order as the window-major loop that preceded this one (per distribution,
// batch after batch), so the statistics are the same bit for bit.
// Progress (rank 0): layers done/total, whole-model tokens/s over all ranks, ETA.
// Memory per rank: the hidden states of this rank's share of all windows (windows x seq_len x hidden x 4
// bytes), arrays up to hidden_state_budget_bytes and a scratch file beyond it (model/hidden_store.h); one
// batch's forward; for the layer in flight, per distribution, five [E, C] float64 arrays (Mixtral-8x7B
// 1.3 MB per layer) plus, for output measures, two [E, F] and two [E, C], sensitivity one more of each.
// Rank 0 keeps every layer's reduced statistics (the result). Sensitivity re-quantizes (RTN) each owned
// expert's three matrices once per batch, one matrix at a time.
#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "analysis/calibration_data.h"
#include "analysis/significance.h"
#include "config/experiment.h"
#include "dist/shard_plan.h"
#include "model/expert_executor.h"
#include "model/model.h"

namespace moqa::analysis {

struct CalibrationWorld {
  model::Model& model;
  model::ExpertExecutor& experts;
  MPI_Comm comm = MPI_COMM_WORLD;
  const dist::ShardPlan& plan;      // who contributes each expert's weight norms (for comm's size)
  int64_t batch_windows = 4;
  // The grid of the sensitivity measure's RTN reference (quantization.group_size and .symmetric; its
  // width is analysis.sensitivity_bits).
  int64_t sensitivity_group_size = 128;
  bool sensitivity_symmetric = false;
  std::ostream* progress = nullptr;  // rank 0's log; null: silent
  double progress_interval_s = 2.0;
  // Hidden states kept as arrays (bytes per rank); beyond it they go to a scratch file in scratch_dir
  // (runtime.hidden_state_memory_mib and output_dir in the pipeline).
  int64_t hidden_state_budget_bytes = int64_t{4096} << 20;
  std::filesystem::path scratch_dir = std::filesystem::temp_directory_path();
};

// One distribution's statistics. The metadata is set on every rank; `layers` only on rank 0.
struct DistributionStatistics {
  std::string name;
  std::string source;
  uint64_t seed = 0;
  int64_t windows = 0;
  int64_t seq_len = 0;
  int64_t stream_tokens = 0;
  std::vector<int64_t> window_starts;
  std::vector<LayerStatistics> layers;  // one per MoE layer, in model order
  int64_t tokens() const { return windows * seq_len; }
};

// The MoE layers of the model in order.
std::vector<int64_t> moe_layers(const ModelConfig& config);

// Runs every distribution together, layer-major (see the header comment). Collective.
std::vector<DistributionStatistics> measure_distributions(CalibrationWorld& world,
                                                          std::span<const DistributionSample> samples,
                                                          const config::AnalysisSection& options);
// One distribution alone: the same statistics as its entry in measure_distributions. Collective.
DistributionStatistics measure_distribution(CalibrationWorld& world, const DistributionSample& sample,
                                            const config::AnalysisSection& options);

// One MoE layer over all calibration distributions together.
struct SynthesizedLayer {
  int64_t layer = 0;
  SignificanceFit significance;          // Eq. 2: per-expert mean and variance of S_exp over the distributions
  std::vector<double> routed_fraction;   // [E] Σ_D routed_count / Σ_D slots (pooled tokens)
  std::vector<double> gate_mass;         // [E] Σ_D gate_mass (pooled tokens)
  double spearman_gate_mass = 0.0;       // Spearman(significance.mean, gate_mass); NaN: nothing to rank
  std::vector<int64_t> coactivation;     // [E*E] Σ_D counts; empty when co-activation was not measured
  std::vector<double> correlation;       // [E*E] phi of the pooled counts; empty likewise
};

// What the calibrate stage hands to the later stages (complete on rank 0).
struct CalibrationResult {
  config::AnalysisSection options;
  std::vector<int64_t> moe_layers;
  std::vector<DistributionStatistics> distributions;  // in [[calibration]] order
  std::vector<SynthesizedLayer> synthesized;          // per MoE layer (rank 0)
};

// The synthesized layers from the distributions' statistics (needs their `layers`: rank 0).
std::vector<SynthesizedLayer> synthesize(const std::vector<DistributionStatistics>& distributions);

}  // namespace moqa::analysis
