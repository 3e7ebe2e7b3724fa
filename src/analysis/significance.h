#pragma once
// What MoQa's analysis derives from the reduced sums of one layer (accumulators.h). Our reading of the
// paper, where it leaves choices open (PAPER.md §4.1, §6.1, §6.2, §6.4, §6.15); docs/FORMATS.md lists
// the same definitions next to the stored datasets.
//
// Channel significance (analysis.channel_significance). Input side, over the C hidden channels of the
// expert's input x, with M_j = Σ ω_tj (weight_mass):
//   mean_abs      Σ ω|x_c| / M_j                      weighted mean magnitude of the input channel
//   rms           sqrt(Σ ω x_c² / M_j)                 weighted root mean square
//   saliency      (Σ ω|x_c| / M_j) · ‖W_j[:, c]‖       AWQ-style |x|·‖W‖, W_j = [gate_j; up_j] stacked
//   hessian_diag  2 Σ ω x_c² / M_j                     GPTQ's diag(H) = 2/n Σ x², n = M_j
// Output side, from expert j's own activations a = silu(gate·x)·(up·x) (F intermediate channels k) and
// output y = down·a (C hidden channels c), with M'_j = Σ ω over the rows its owner ran (out_weight_mass):
//                    hidden channel c (S_ch)           intermediate channel k (S_act)
//   output_mean_abs  Σ ω|y_c| / M'_j                   Σ ω|a_k| / M'_j
//   output_saliency  Σ ω|y_c| / M'_j                   (Σ ω|a_k| / M'_j) · ‖down_j[:, k]‖   (AWQ-style)
//   sensitivity      Σ ω (ΔD a)_c² / M'_j               Σ ω ((ΔG x)_k² + (ΔU x)_k²) / M'_j
// where ΔW = RTN(W) - W at analysis.sensitivity_bits (accumulators.h). S_ch is always over the C hidden
// channels (the channel cache's unit: gate/up column c and down row c); S_act only for output measures.
// An expert no token reached has S_ch = S_act = 0.
//
// Expert significance (Eq. 1), per layer:  S_exp_j = num_j / Σ_i num_i  with
//   input side:       num_j = M_j · Σ_c S_ch[j][c]
//   output_mean_abs:  num_j = M'_j · Σ_c S_ch[j][c]  = Σ_t ω_tj ‖y_tj‖₁ (the expert's weighted output magnitude)
//   output_saliency:  num_j = M'_j · Σ_k S_act[j][k] = Σ_t ω_tj Σ_k |a_tk| ‖down_j[:, k]‖
//   sensitivity:      num_j = M'_j · (Σ_k S_act + Σ_c S_ch) = Σ_{G,U,D} tr(ΔW H ΔWᵀ)
// i.e. the sum over the tokens routed to j of ω_tj times the token's channel significance summed over
// channels (exactly so for every measure but rms, which is linear in the token sums; for rms, the layer's
// mass times its channel RMS). analysis.significance = false replaces num_j by M_j: the expert's
// (weighted) routed mass. A layer whose numerators are all 0 gets S_exp = 0.
//
// Significance versus frequency: the Spearman rank correlation (average ranks for ties) of S_exp with the
// routed gate mass Σ g_tj of the layer's experts; 1 means the significance ranks experts exactly as their
// routing does. NaN when either is constant over the experts (no ranking to compare).
//
// Co-activation correlation: the phi coefficient of the routing indicators of experts i and j over the
// N tokens: (N·C_ij − C_ii·C_jj) / sqrt(C_ii (N − C_ii) · C_jj (N − C_jj)), 0 where an indicator is
// constant (never or always routed), hence 1 on the diagonal of every expert with 0 < C_ii < N.
//
// Synthesized significance (Eq. 2's Fit, the "synthesized expert baseline significance"): per expert,
// the mean and the population variance (divided by D) of S_exp over the D calibration distributions.
#include <cstdint>
#include <span>
#include <vector>

#include "analysis/accumulators.h"
#include "config/experiment.h"

namespace moqa::analysis {

// True for the measures read on the experts' owners (output_mean_abs, output_saliency, sensitivity).
bool is_output_side(config::ChannelSignificance kind);

// S_ch [E*C]. column_norms [E*C] is required for saliency and ignored otherwise.
std::vector<double> channel_significance(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                         std::span<const double> column_norms);

// S_act [E*F] of an output measure (empty for input measures). down_column_norms [E*F] is required for
// output_saliency and ignored otherwise.
std::vector<double> activation_significance(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                            std::span<const double> down_column_norms);

// num_j of Eq. 1 [E]; significance = false gives M_j.
std::vector<double> expert_numerators(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                      std::span<const double> channel_significance,
                                      std::span<const double> activation_significance, bool significance);

// Spearman's rank correlation of two equally long series: the Pearson correlation of their ranks, tied
// values sharing the average of their ranks. NaN when either series is constant or shorter than 2.
double spearman(std::span<const double> a, std::span<const double> b);

// values / Σ values (all zeros when the sum is 0).
std::vector<double> normalise(std::span<const double> values);

// routed_count / (tokens · top_k): the expert's share of the layer's routed slots [E].
std::vector<double> routed_fraction(const LayerAccumulator& acc);

// Phi coefficients [E*E] from co-activation counts [E*E] over `tokens` tokens.
std::vector<double> phi_correlation(std::span<const int64_t> coactivation, int64_t experts, int64_t tokens);

struct SignificanceFit {
  std::vector<double> mean;      // [E]
  std::vector<double> variance;  // [E], population variance over the distributions
};
// per_distribution: S_exp [E] of each calibration distribution (at least one, equal lengths).
SignificanceFit fit_significance(const std::vector<std::vector<double>>& per_distribution);

// One MoE layer under one distribution: the reduced sums and everything derived from them.
struct LayerStatistics {
  LayerAccumulator sums;
  std::vector<double> column_norms;          // [E*C] ‖W_j[:, c]‖ (saliency only; else empty)
  std::vector<double> down_column_norms;     // [E*F] ‖down_j[:, k]‖ (output_saliency only; else empty)
  std::vector<double> routed_fraction;       // [E]
  std::vector<double> channel_significance;  // [E*C] S_ch
  std::vector<double> activation_significance;  // [E*F] S_act (output measures; else empty)
  std::vector<double> expert_numerator;      // [E]
  std::vector<double> expert_significance;   // [E] S_exp, sums to 1 over the layer (or all 0)
  std::vector<double> correlation;           // [E*E] phi; empty when co-activation was not measured
  double spearman_gate_mass = 0.0;           // Spearman(S_exp, gate_mass); NaN: nothing to rank
};

// column_norms / down_column_norms: the weight factors of saliency / output_saliency (else empty).
LayerStatistics derive_layer_statistics(LayerAccumulator sums, std::vector<double> column_norms,
                                        std::vector<double> down_column_norms, const config::AnalysisSection& options);

}  // namespace moqa::analysis
