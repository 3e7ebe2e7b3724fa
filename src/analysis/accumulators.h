#pragma once
// The raw calibration statistics of one MoE layer under one calibration distribution: plain sums,
// counts and maxima over tokens, so that partial statistics of any split of the tokens (batches, MPI
// ranks) combine exactly by element-wise SUM (MAX for the maxima). Everything derived (fractions,
// channel and expert significance, correlations) is computed from a complete accumulator
// (significance.h). docs/FORMATS.md ("results.h5") names every field as it is stored.
//
// Two sides. The input side (token holder, accumulate): channels are the input channels of the routed
// experts' gate and up projections (the hidden size C); every expert of a layer reads the same
// post-attention-norm vector x_t of a token, so these statistics of expert j are sums over the tokens
// routed to j of functions of x_t. The output side (the expert's owner, accumulate_expert_outputs): the
// expert's own SwiGLU activations a = silu(gate·x)·(up·x) over its F intermediate channels and its output
// y = down·a over the C hidden channels, which differ from expert to expert (PAPER.md §4.1: "hook each
// expert's channel outputs"). Every expert has one owner, every other rank holds zeros for it, so the
// output side combines by SUM like the input side.
//
// Token weights. A routed (token t, expert j) pair weighs
//     ω_tj = r_t · (gate_weighted ? g_tj : 1)
// where r_t is the token's re-weighting factor (token_weights.h; 1 without re-weighting) and g_tj the
// router's combine weight. The `weighted_*` sums and `weight_mass` use ω_tj; the plain sums count every
// routed pair once.
#include <cstdint>
#include <span>
#include <vector>

#include "backend/routing.h"

namespace moqa::analysis {

struct LayerAccumulator {
  int64_t layer = 0;     // model layer index
  int64_t experts = 0;   // routed experts E
  int64_t channels = 0;  // input channels C (hidden size)
  int64_t top_k = 0;
  int64_t intermediate = 0;  // the experts' intermediate channels F (output side)
  bool coactivation_enabled = true;
  bool sensitivity_enabled = false;  // the sensitivity_* sums exist (analysis.channel_significance)

  // ---- integers (exact under any split) -------------------------------------------------------
  int64_t tokens = 0;                  // tokens routed by this layer
  std::vector<int64_t> routed_count;   // [E] tokens routed to the expert
  std::vector<int64_t> coactivation;   // [E*E] tokens routed to both i and j (diagonal: routed_count);
                                       // empty when coactivation_enabled is false
  // ---- floating sums (float64) --------------------------------------------------------------
  double token_weight_sum = 0.0;       // Σ_t r_t over all tokens
  std::vector<double> gate_mass;       // [E] Σ g_tj over tokens routed to j
  std::vector<double> router_prob_mass;  // [E] Σ_t score_tj over ALL tokens (unbiased softmax/sigmoid score)
  std::vector<double> weight_mass;     // [E] Σ ω_tj over tokens routed to j
  std::vector<double> abs_sum;         // [E*C] Σ |x_tc|
  std::vector<double> sq_sum;          // [E*C] Σ x_tc²
  std::vector<double> weighted_abs_sum;  // [E*C] Σ ω_tj |x_tc|
  std::vector<double> weighted_sq_sum;   // [E*C] Σ ω_tj x_tc²
  // ---- maxima -------------------------------------------------------------------------------
  std::vector<double> abs_max;         // [E*C] max |x_tc| (0 for an expert no token reached)
  // ---- output side (owner rank), float64 sums with the same ω_tj ---------------------------
  std::vector<double> out_weight_mass;       // [E] Σ ω over the rows the owner ran (= weight_mass up to rounding)
  std::vector<double> act_weighted_abs_sum;  // [E*F] Σ ω |a_tk|
  std::vector<double> act_weighted_sq_sum;   // [E*F] Σ ω a_tk²
  std::vector<double> out_weighted_abs_sum;  // [E*C] Σ ω |y_tc|
  std::vector<double> out_weighted_sq_sum;   // [E*C] Σ ω y_tc²
  // sensitivity only: Σ ω e² of the outputs' errors with every matrix at the RTN reference width,
  // ΔW = Q(W) - W: intermediate channel k: (ΔG x)_k² + (ΔU x)_k²; hidden channel c: (ΔD a)_c².
  // Summed over channels and tokens this is Σ_matrices tr(ΔW H ΔWᵀ) with H = Σ ω x xᵀ (resp. a aᵀ).
  std::vector<double> sensitivity_act;  // [E*F]
  std::vector<double> sensitivity_out;  // [E*C]

  int64_t slots() const { return tokens * top_k; }  // routed (token, expert) pairs
};

// A zeroed accumulator of the given shape. intermediate = 0: no output side (input-side statistics only).
LayerAccumulator make_layer_accumulator(int64_t layer, int64_t experts, int64_t channels, int64_t top_k,
                                        bool coactivation, int64_t intermediate = 0, bool sensitivity = false);

struct RoutedBatch {
  std::span<const float> inputs;         // [tokens, channels] the experts' input rows x_t
  std::span<const float> scores;         // [tokens, experts] unbiased router scores
  const backend::Routing& routing;       // tokens × top_k choices and combine weights
  std::span<const double> token_weights; // [tokens] r_t
};

// Adds one batch of routed tokens. Shapes are checked (moqa::Error naming the layer and the sizes), and so
// is every value: a NaN or inf input row, router score or combine weight, or a negative or non-finite
// token weight, is a moqa::Error naming the layer and the token, never a silently NaN statistic.
void accumulate(LayerAccumulator& acc, const RoutedBatch& batch, bool gate_weighted);

// One routed expert's rows on its owner: n rows, each with its weight ω (r_t, times the combine weight
// when gate-weighted). Any of the error arrays may be empty when sensitivity is off.
struct ExpertOutputBatch {
  int64_t expert = 0;
  std::span<const double> omega;        // [n]
  std::span<const float> activations;   // [n, F] a = silu(gate·x)·(up·x)
  std::span<const float> outputs;       // [n, C] y = down·a
  std::span<const float> gate_error;    // [n, F] ΔG·x   (sensitivity)
  std::span<const float> up_error;      // [n, F] ΔU·x   (sensitivity)
  std::span<const float> down_error;    // [n, C] ΔD·a   (sensitivity)
};

// Adds one expert's rows to the output side (shapes and values checked like accumulate()).
void accumulate_expert_outputs(LayerAccumulator& acc, const ExpertOutputBatch& batch);

// acc += other (same shape): the combination MPI's SUM/MAX reductions perform, for tests and for
// combining partial accumulators in one process.
void merge(LayerAccumulator& acc, const LayerAccumulator& other);

}  // namespace moqa::analysis
