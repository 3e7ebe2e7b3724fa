#include "pipeline/allocate/allocation_options.h"

#include <cmath>

#include "data/random.h"

namespace moqa::pipeline {

allocate::AllocationOptions allocation_options(const config::Experiment& experiment) {
  const config::AllocationSection& a = experiment.allocation;
  allocate::AllocationOptions o;
  o.method = allocate::method_from_string(config::name_of(a.method));
  o.scope = allocate::scope_from_string(config::name_of(a.scope));
  o.candidate_bits = a.candidate_bits;
  o.target_bits = a.target_bits;
  o.budget_counts_all_linear = a.budget_counts_all_linear;
  o.budget_counts_overhead = a.budget_counts_overhead;
  o.match_uniform_bits = a.match_uniform_bits;
  o.fill_budget = a.fill_budget;
  // Eq. 2's one knob: analysis.fit = "mean_var" scores mean + fit_std_weight * std; "mean" scores the mean.
  const config::AnalysisSection& analysis = experiment.analysis;
  o.significance_std_weight = analysis.fit == config::SignificanceFit::mean_var ? analysis.fit_std_weight : 0.0;
  // Stage 3 off (an ablation) leaves moqa without a correlation to read, like moqa-v1's shaping below.
  o.correlation_weight = analysis.correlation ? a.correlation_weight : 0.0;
  // uniform: match_uniform_bits when set (the table's common budget is that uniform model's), else
  // target_bits is the width itself.
  o.uniform_bits = a.method != config::AllocationMethod::uniform ? 0
                   : a.match_uniform_bits != 0          ? a.match_uniform_bits
                                                        : static_cast<int>(std::lround(a.target_bits));
  o.fcm.clusters = static_cast<int>(a.fcm_clusters);
  o.fcm.fuzzifier = a.fcm_m;
  o.fcm.tolerance = a.fcm_tolerance;
  o.fcm.max_iterations = static_cast<int>(a.fcm_max_iterations);
  o.fcm.restarts = static_cast<int>(a.fcm_restarts);
  o.fcm.seed = data::derive_seed(static_cast<uint64_t>(experiment.experiment.seed), "allocation/fcm");
  o.overlap_margin = a.overlap_margin;
  o.enforce_budget = a.enforce_budget;
  o.threshold_mode = allocate::threshold_mode_from_string(config::name_of(a.v1_threshold_mode));
  o.threshold = a.v1_threshold;
  const bool moeptq = a.method == config::AllocationMethod::moeptq;
  o.high_bits = moeptq ? a.moeptq_high_bits : a.v1_high_bits;
  o.low_bits = moeptq ? a.moeptq_low_bits : a.v1_low_bits;
  // Switching the correlation stage off (an ablation) removes co-activation from every decision, so it
  // also turns moqa-v1's co-activation shaping off rather than failing for want of its matrix.
  o.coactivation_shaping = a.v1_coactivation && experiment.analysis.correlation;
  o.coactivation_threshold = a.v1_coactivation_threshold;
  o.frequency_fill = allocate::frequency_fill_from_string(config::name_of(a.frequency_fill));
  o.max_dp_cells = a.max_dp_cells;
  return o;
}

allocate::ChannelPlanOptions channel_plan_options(const config::AnalysisSection& analysis) {
  return {.fraction = analysis.channel_fraction,
          .measure = allocate::channel_change_measure_from_string(config::name_of(analysis.channel_measure))};
}

}  // namespace moqa::pipeline
