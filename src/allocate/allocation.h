#pragma once
// Expert bit-width allocation: the coordinator's decision of bits[layer][expert] from the calibration
// statistics. Every function here is pure and deterministic (no rank, no clock, no global RNG), so rank 0
// computes the plan and broadcasts it, and any rank recomputing it would get the same answer.
// docs/ALLOCATION.md describes each method and every choice the paper leaves open.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allocate/bit_report.h"
#include "config/experiment.h"

namespace moqa::allocate {

// ---------------------------------------------------------------------------------------------------
// Input: what the analysis stage measured, per MoE layer (in allocation order) and routed expert.

struct ExpertStats {
  int64_t params = 0;                 // parameters of the expert's linear weights (all its matrices)
  double significance_mean = 0.0;     // synthesized S_exp: mean over calibration distributions
  double significance_variance = 0.0; // variance of S_exp over calibration distributions
  double routed_fraction = 0.0;       // share of the layer's routed token slots that went to this expert
  // Measured quantization error per width, aligned with AllocationInput::error_bits. Only `budgeted`
  // reads it; leave empty otherwise.
  std::vector<double> quant_error;
  // Stored bits beyond the expert's codes (params x width), the same at every width (docs/ALLOCATION.md,
  // "Stored bits"): the group-wise quantization's scales, zero points and g_idx (counted in the budget
  // with AllocationOptions::budget_counts_overhead), and the full-precision copies of its cached channels
  // (always counted: the model stores them).
  int64_t overhead_bits = 0;
  int64_t cache_bits = 0;
};

struct MoeLayerStats {
  std::vector<ExpertStats> experts;
  // Optional association between experts of this layer, [E x E] row-major (e.g. co-activation counts
  // normalised to a correlation). moqa's correlation_weight and moqa-v1's co-activation shaping read it;
  // empty = not measured.
  std::vector<double> coactivation;
};

struct AllocationInput {
  std::vector<MoeLayerStats> layers;
  std::vector<int> error_bits;             // widths of ExpertStats::quant_error, strictly ascending
  std::vector<WeightGroup> other_weights;  // non-expert linear weights (attention, router, lm_head, ...)
};

// ExpertStats::params of every routed expert, [layer][expert] (report_bits' expert_params).
std::vector<std::vector<int64_t>> expert_params(const AllocationInput& input);
// ExpertStats::cache_bits and overhead_bits of every routed expert (report_bits' extras).
std::vector<std::vector<ExpertExtra>> expert_extras(const AllocationInput& input);

// ---------------------------------------------------------------------------------------------------
// Options: the [allocation] table of the experiment.

// The experiment's enum itself (one representation; its TOML names are the method names).
using Method = config::AllocationMethod;
enum class Scope { layer, global };
enum class ThresholdMode { mean_ratio, quantile };
enum class FrequencyFill { breadth, depth };

Method method_from_string(std::string_view name);  // config::EnumNames<AllocationMethod>, e.g. "moeptq"
Scope scope_from_string(std::string_view name);    // "layer" | "global"
ThresholdMode threshold_mode_from_string(std::string_view name);  // "mean_ratio" | "quantile"
FrequencyFill frequency_fill_from_string(std::string_view name);  // "breadth" | "depth"
std::string to_string(Method method);
std::string to_string(Scope scope);
std::string to_string(ThresholdMode mode);
std::string to_string(FrequencyFill fill);

struct FuzzyCMeansOptions {
  int clusters = 4;
  double fuzzifier = 2.0;      // m > 1
  double tolerance = 1e-6;     // stop when max |U_new - U_old| < tolerance
  int max_iterations = 300;
  int restarts = 4;            // independent seeded starts; the lowest objective wins
  uint64_t seed = 0x6d6f7161;  // "moqa"
};

struct AllocationOptions {
  Method method = Method::moqa;
  Scope scope = Scope::layer;
  std::vector<int> candidate_bits{2, 4, 6, 8};  // strictly ascending subset of {2, 3, 4, 6, 8}
  double target_bits = 3.0;                      // parameter-weighted mean over the budget's weights
  // true: the target is the mean over all linear weights (experts + other_weights), so the experts get
  // what the fixed widths of the other weights leave; false: the target is the routed experts' mean.
  bool budget_counts_all_linear = false;
  // true: target_bits counts ExpertStats::overhead_bits and WeightGroup::overhead_bits too (stored bits);
  // false: codes only. Cached channels (cache_bits) count either way.
  bool budget_counts_overhead = false;
  // > 0: target_bits becomes the stored mean bits of every routed expert at this width (same overhead,
  // no cache) over the budget's weights: the budget of the uniform baseline at that width.
  int match_uniform_bits = 0;
  // Spend what the method left of the budget (fill_to_budget in budget.h): moqa, moqa-v1, budgeted.
  bool fill_budget = false;
  // The value every method ranks or clusters: mean + weight * sqrt(variance) of S_exp across
  // distributions (0 = the plain synthesized mean; > 0 favours experts whose significance is unstable).
  double significance_std_weight = 0.0;
  // moqa only: before clustering, each expert's score is pulled toward the scores of the experts it is
  // co-activated with, s'_j = (1 - w) s_j + w * Σ_i φ⁺_ij s_i / Σ_i φ⁺_ij over i != j with φ⁺ = max(phi, 0)
  // (MoeLayerStats::coactivation), so that experts serving the same tokens land at compatible widths
  // (docs/ALLOCATION.md). 0 = the correlation is not read; in [0, 1].
  double correlation_weight = 0.0;

  int uniform_bits = 0;  // uniform: 2/3/4/6/8, or 0 = the largest candidate <= target_bits

  FuzzyCMeansOptions fcm;              // moqa
  double overlap_margin = 0.1;         // moqa: top-two membership gap below which low-precision-first applies
  bool enforce_budget = false;         // moqa, moqa-v1: demote until within target_bits

  ThresholdMode threshold_mode = ThresholdMode::mean_ratio;  // moqa-v1
  double threshold = 1.0;  // mean_ratio: high iff score >= threshold * mean; quantile: high iff in top (1-threshold)
  int high_bits = 0;       // moqa-v1, moeptq: 0 = smallest candidate above the experts' target
  int low_bits = 0;        // moqa-v1, moeptq: 0 = largest candidate below the experts' target
  bool coactivation_shaping = false;   // moqa-v1: lift low experts strongly associated with a high one
  double coactivation_threshold = 0.5; // moqa-v1: minimal association for a lift

  FrequencyFill frequency_fill = FrequencyFill::breadth;  // frequency

  int64_t max_dp_cells = int64_t{1} << 25;  // budgeted: items x capacity units before the unit is coarsened
};

void validate(const AllocationOptions& options);  // throws moqa::Error naming the option
void validate(const AllocationInput& input);      // throws moqa::Error naming layer/expert/field

// ---------------------------------------------------------------------------------------------------
// Output.

using BitMatrix = std::vector<std::vector<int>>;  // [layer][expert]

// One width decision worth reporting (a demotion, a lift, a change between two allocations).
struct BitChange {
  int layer = 0;
  int expert = 0;
  int old_bits = 0;
  int new_bits = 0;
};

// One fuzzy c-means run (one per layer for scope "layer", a single one for "global").
struct ClusterRun {
  std::vector<int> layers;           // layers whose experts were clustered together
  std::vector<double> centers;       // ascending
  std::vector<int> center_bits;      // width given to each cluster
  int requested_clusters = 0;
  int iterations = 0;
  bool converged = false;
  double objective = 0.0;            // sum u^m d^2 of the kept restart
};

// An expert whose two largest memberships are within overlap_margin (the clusters' overlap region).
struct OverlapDecision {
  int layer = 0;
  int expert = 0;
  int top_cluster = 0;       // argmax membership (ranks: 0 = lowest center)
  int second_cluster = 0;
  double margin = 0.0;       // top membership - second membership
  int assigned_cluster = 0;  // the lower of the two; != top_cluster when the rule moved the expert
};

struct Allocation {
  Method method = Method::moqa;
  Scope scope = Scope::layer;
  BitMatrix bits;
  std::vector<std::vector<double>> score;  // what was ranked/clustered (see significance_std_weight)
  double target_bits = 0.0;
  // The experts' mean code width the budget allows: target_bits less the other weights' share
  // (budget_counts_all_linear), the cached channels and, with budget_counts_overhead, the overhead.
  double expert_target_bits = 0.0;
  BitsReport report;

  // moqa
  std::vector<ClusterRun> clusterings;
  std::vector<std::vector<int>> cluster_run;                  // [layer][expert] -> index into clusterings
  std::vector<std::vector<std::vector<double>>> membership;   // [layer][expert][cluster rank]
  std::vector<std::vector<int>> cluster;                      // [layer][expert] assigned cluster rank
  std::vector<OverlapDecision> overlaps;
  // moqa, moqa-v1 with enforce_budget: one entry per single-level demotion, in the order applied
  std::vector<BitChange> budget_demotions;
  // moqa-v1 co-activation shaping: experts lifted from low_bits to high_bits
  std::vector<BitChange> coactivation_lifts;
  // fill_budget: one entry per single-level promotion, in the order applied
  std::vector<BitChange> fill_promotions;
  // budgeted
  double objective = 0.0;                  // sum significance * error of the chosen widths
  bool exact = true;                       // false when the DP unit had to be coarsened
  int64_t budget_unit_bit_params = 1;      // largest DP unit in parameter-bits (the gcd of cost steps when exact)
};

// Runs options.method on input. Validates both first.
Allocation allocate(const AllocationInput& input, const AllocationOptions& options);

}  // namespace moqa::allocate
