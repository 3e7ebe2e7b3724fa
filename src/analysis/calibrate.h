#pragma once
// PASS 1 of the pipeline: the full-precision forward over each calibration distribution with the
// statistics observer, the reduction of the ranks' statistics and the derived MoQa quantities.
//
// Execution (every rank, collective over CalibrationWorld::comm):
//   - the distribution's global sample list is split contiguously over the ranks (data::shard_range);
//   - each rank runs its windows window-major in batches of batch_windows (embed, then every layer);
//     all ranks run the same number of batch rounds: a rank without windows left runs an empty batch,
//     so that every rank enters the expert executor for every MoE layer equally often;
//   - input-side statistics are accumulated where the tokens are, output-side ones (output measures of
//     analysis.channel_significance) on each expert's owner (statistics_observer.h), for all MoE layers;
//     with token re-weighting the ranks exchange their batch's factors each round (MPI_Allgatherv of one
//     float64 per token) so that an owner can weigh rows from every rank;
//   - after the last batch, layer by layer: the saliency weight norms (from the experts' owners) and the
//     accumulators are reduced to rank 0, which derives the layer's statistics (significance.h).
// Progress (rank 0): windows of all ranks done/total, tokens/s and ETA per distribution.
// Memory per rank: one batch of hidden states plus, for every MoE layer, five [E, C] float64 arrays
// (Mixtral-8x7B: 42 MB; DeepSeek-V3, 58 layers x 256 experts x 7168 channels: 4.3 GB); output measures
// add two [E, F] and two [E, C] arrays (Mixtral-8x7B: +43 MB), sensitivity one more of each (+22 MB).
// Sensitivity re-quantizes (RTN) each owned expert's three matrices once per batch round, one matrix at a
// time (no extra resident memory; CPU time of one pass over the expert weights per round). Window-major
// order means that with runtime.stream_weights every batch reloads each layer's weights: use large
// batches (or enough memory to keep the weights resident).
#include <mpi.h>

#include <cstdint>
#include <iosfwd>
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

// Runs one distribution (see the header comment). Collective.
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
