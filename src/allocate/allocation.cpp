#include "allocate/allocation.h"

#include <cmath>
#include <limits>

#include "allocate/budget.h"
#include "allocate/candidate_bits.h"
#include "allocate/fuzzy_cmeans.h"
#include "allocate/methods.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

template <class Enum, size_t N>
Enum parse_enum(std::string_view name, std::string_view key, const std::pair<Enum, const char*> (&table)[N]) {
  std::string expected;
  for (const auto& [value, text] : table) {
    if (name == text) return value;
    expected += cat(expected.empty() ? "" : ", ", '"', text, '"');
  }
  fail(key, ": found \"", name, "\", expected one of ", expected);
}

template <class Enum, size_t N>
std::string enum_name(Enum value, const std::pair<Enum, const char*> (&table)[N]) {
  for (const auto& [candidate, text] : table)
    if (candidate == value) return text;
  return "?";
}

constexpr std::pair<Scope, const char*> kScopes[] = {{Scope::layer, "layer"}, {Scope::global, "global"}};
constexpr std::pair<ThresholdMode, const char*> kThresholdModes[] = {{ThresholdMode::mean_ratio, "mean_ratio"},
                                                                     {ThresholdMode::quantile, "quantile"}};
constexpr std::pair<FrequencyFill, const char*> kFills[] = {{FrequencyFill::breadth, "breadth"},
                                                            {FrequencyFill::depth, "depth"}};

bool finite_at_least(double value, double low) { return std::isfinite(value) && value >= low; }

}  // namespace

Method method_from_string(std::string_view name) {
  if (const auto method = config::parse_enum<Method>(name)) return *method;
  std::string expected;
  for (const std::string_view text : config::EnumNames<Method>::names)
    expected += cat(expected.empty() ? "" : ", ", '"', text, '"');
  fail("allocation.method: found \"", name, "\", expected one of ", expected);
}
Scope scope_from_string(std::string_view name) { return parse_enum(name, "allocation.scope", kScopes); }
ThresholdMode threshold_mode_from_string(std::string_view name) {
  return parse_enum(name, "allocation.threshold_mode", kThresholdModes);
}
FrequencyFill frequency_fill_from_string(std::string_view name) {
  return parse_enum(name, "allocation.frequency_fill", kFills);
}
std::string to_string(Method method) { return std::string(config::name_of(method)); }
std::string to_string(Scope scope) { return enum_name(scope, kScopes); }
std::string to_string(ThresholdMode mode) { return enum_name(mode, kThresholdModes); }
std::string to_string(FrequencyFill fill) { return enum_name(fill, kFills); }

void validate(const AllocationOptions& options) {
  validate_candidate_bits(options.candidate_bits, "allocation.candidate_bits");
  MOQA_CHECK(std::isfinite(options.target_bits) && options.target_bits > 0.0, "allocation.target_bits: found ",
             options.target_bits, ", expected a finite number > 0");
  MOQA_CHECK(finite_at_least(options.significance_std_weight, 0.0), "analysis.fit_std_weight: found ",
             options.significance_std_weight, ", expected a finite number >= 0");
  MOQA_CHECK(finite_at_least(options.correlation_weight, 0.0) && options.correlation_weight <= 1.0,
             "allocation.correlation_weight: found ", options.correlation_weight, ", expected a number in [0, 1]");
  MOQA_CHECK(options.uniform_bits == 0 || is_supported_bits(options.uniform_bits), "allocation.uniform_bits: found ",
             options.uniform_bits, ", expected 0 (from target_bits) or one of 2, 3, 4, 6, 8");
  validate(options.fcm);
  MOQA_CHECK(finite_at_least(options.overlap_margin, 0.0) && options.overlap_margin <= 1.0,
             "allocation.overlap_margin: found ", options.overlap_margin, ", expected 0..1");
  if (options.threshold_mode == ThresholdMode::quantile)
    MOQA_CHECK(finite_at_least(options.threshold, 0.0) && options.threshold <= 1.0, "allocation.threshold: found ",
               options.threshold, ", expected 0..1 with threshold_mode = \"quantile\"");
  else
    MOQA_CHECK(finite_at_least(options.threshold, 0.0), "allocation.threshold: found ", options.threshold,
               ", expected a finite number >= 0 with threshold_mode = \"mean_ratio\"");
  for (const auto& [key, bits] : {std::pair{"allocation.high_bits", options.high_bits},
                                  std::pair{"allocation.low_bits", options.low_bits}})
    MOQA_CHECK(bits == 0 || candidate_index(options.candidate_bits, bits) >= 0, key, ": found ", bits,
               ", expected 0 (from target_bits) or one of allocation.candidate_bits");
  MOQA_CHECK(options.high_bits == 0 || options.low_bits == 0 || options.low_bits < options.high_bits,
             "allocation: low_bits = ", options.low_bits, " and high_bits = ", options.high_bits,
             ", expected low_bits < high_bits");
  MOQA_CHECK(std::isfinite(options.coactivation_threshold), "allocation.coactivation_threshold: found ",
             options.coactivation_threshold, ", expected a finite number");
  MOQA_CHECK(options.max_dp_cells >= 1, "allocation.max_dp_cells: found ", options.max_dp_cells, ", expected >= 1");
  MOQA_CHECK(options.match_uniform_bits == 0 || is_supported_bits(options.match_uniform_bits),
             "allocation.match_uniform_bits: found ", options.match_uniform_bits,
             ", expected 0 (use target_bits) or one of 2, 3, 4, 6, 8");
}

void validate(const AllocationInput& input) {
  MOQA_CHECK(!input.layers.empty(), "allocation input: no MoE layers");
  if (!input.error_bits.empty()) validate_candidate_bits(input.error_bits, "allocation input: error_bits");
  // Keeps every parameter-bit total (params x 32 bits at most) far from int64 overflow.
  constexpr int64_t kMaxTotalParams = std::numeric_limits<int64_t>::max() / 64;
  int64_t total_params = 0;
  for (size_t l = 0; l < input.layers.size(); ++l) {
    const MoeLayerStats& layer = input.layers[l];
    const size_t experts = layer.experts.size();
    MOQA_CHECK(experts > 0, "allocation input: MoE layer ", l, " has no experts");
    for (size_t e = 0; e < experts; ++e) {
      const ExpertStats& x = layer.experts[e];
      const std::string where = cat("allocation input: MoE layer ", l, " expert ", e, ": ");
      MOQA_CHECK(x.params > 0 && x.params <= kMaxTotalParams - total_params, where, "parameter count ", x.params,
                 ", expected > 0 (and a model total below ", kMaxTotalParams, ")");
      total_params += x.params;
      MOQA_CHECK(finite_at_least(x.significance_mean, 0.0), where, "significance_mean ", x.significance_mean,
                 ", expected a finite number >= 0");
      MOQA_CHECK(finite_at_least(x.significance_variance, 0.0), where, "significance_variance ",
                 x.significance_variance, ", expected a finite number >= 0");
      MOQA_CHECK(finite_at_least(x.routed_fraction, 0.0) && x.routed_fraction <= 1.0, where, "routed_fraction ",
                 x.routed_fraction, ", expected 0..1");
      MOQA_CHECK(x.quant_error.empty() || x.quant_error.size() == input.error_bits.size(), where, "has ",
                 x.quant_error.size(), " quantization errors, expected one per error_bits entry (",
                 input.error_bits.size(), ")");
      MOQA_CHECK(x.overhead_bits >= 0 && x.overhead_bits <= kMaxTotalParams, where, "overhead_bits ", x.overhead_bits,
                 ", expected 0..", kMaxTotalParams);
      MOQA_CHECK(x.cache_bits >= 0 && x.cache_bits <= kMaxTotalParams, where, "cache_bits ", x.cache_bits,
                 ", expected 0..", kMaxTotalParams);
      for (size_t k = 0; k < x.quant_error.size(); ++k)
        MOQA_CHECK(finite_at_least(x.quant_error[k], 0.0), where, "quantization error at ", input.error_bits[k],
                   " bits is ", x.quant_error[k], ", expected a finite number >= 0");
    }
    MOQA_CHECK(layer.coactivation.empty() || layer.coactivation.size() == experts * experts,
               "allocation input: MoE layer ", l, " co-activation matrix has ", layer.coactivation.size(),
               " entries, expected ", experts, " x ", experts);
    for (size_t i = 0; i < layer.coactivation.size(); ++i)
      MOQA_CHECK(std::isfinite(layer.coactivation[i]), "allocation input: MoE layer ", l, " co-activation [",
                 i / experts, "][", i % experts, "] is ", layer.coactivation[i], ", expected a finite number");
  }
  int64_t other_params = 0;
  for (const WeightGroup& group : input.other_weights) {
    MOQA_CHECK(group.params >= 0 && group.params <= kMaxTotalParams - other_params,
               "allocation input: weight group '", group.name, "' has parameter count ", group.params,
               ", expected >= 0 (and a model total below ", kMaxTotalParams, ")");
    other_params += group.params;
    MOQA_CHECK(group.bits >= 1 && group.bits <= 32, "allocation input: weight group '", group.name, "' has ",
               group.bits, " bits, expected 1..32 (16 = kept in half precision)");
    MOQA_CHECK(group.overhead_bits >= 0 && group.overhead_bits <= kMaxTotalParams, "allocation input: weight group '",
               group.name, "' has overhead_bits ", group.overhead_bits, ", expected 0..", kMaxTotalParams);
  }
}

Allocation start_allocation(const AllocationInput& input, const AllocationOptions& options) {
  Allocation result;
  result.method = options.method;
  result.scope = options.scope;
  result.target_bits = effective_target_bits(input, options);
  result.expert_target_bits = expert_target_bits(input, options);
  for (const MoeLayerStats& layer : input.layers) {
    result.bits.emplace_back(layer.experts.size(), 0);
    auto& scores = result.score.emplace_back();
    for (const ExpertStats& expert : layer.experts)
      scores.push_back(expert.significance_mean +
                       options.significance_std_weight * std::sqrt(expert.significance_variance));
  }
  return result;
}

std::vector<std::vector<ExpertExtra>> expert_extras(const AllocationInput& input) {
  std::vector<std::vector<ExpertExtra>> extras;
  for (const MoeLayerStats& layer : input.layers) {
    auto& row = extras.emplace_back();
    for (const ExpertStats& expert : layer.experts)
      row.push_back({.part_bits = expert.cache_bits, .overhead_bits = expert.overhead_bits});
  }
  return extras;
}

std::vector<std::vector<int64_t>> expert_params(const AllocationInput& input) {
  std::vector<std::vector<int64_t>> params;
  for (const MoeLayerStats& layer : input.layers) {
    auto& row = params.emplace_back();
    for (const ExpertStats& expert : layer.experts) row.push_back(expert.params);
  }
  return params;
}

Allocation allocate(const AllocationInput& input, const AllocationOptions& options) {
  validate(options);
  validate(input);
  Allocation result = start_allocation(input, options);
  // Every method but an explicit uniform width reads the target; one below the cheapest allocation is a
  // configuration mistake, reported before any work.
  if (!(options.method == Method::uniform && options.uniform_bits != 0))
    for (const BudgetDomain& domain : budget_domains(input, options))
      require_feasible(domain, options, result.expert_target_bits);

  switch (options.method) {
    case Method::uniform: allocate_uniform(input, options, result); break;
    case Method::moqa: allocate_moqa(input, options, result); break;
    case Method::moqa_v1: allocate_moqa_v1(input, options, result); break;
    case Method::frequency: allocate_frequency(input, options, result); break;
    case Method::budgeted: allocate_budgeted(input, options, result); break;
    case Method::moeptq: allocate_moeptq(input, options, result); break;
  }
  const bool fills = options.method == Method::moqa || options.method == Method::moqa_v1 ||
                     options.method == Method::budgeted;
  if (options.fill_budget && fills) {
    const std::vector<int> ladder = options.method == Method::moqa_v1
                                        ? std::vector<int>{bracketing_widths(options, result.expert_target_bits).low,
                                                           bracketing_widths(options, result.expert_target_bits).high}
                                        : options.candidate_bits;
    for (const BudgetDomain& domain : budget_domains(input, options))
      for (const BitChange& step : fill_to_budget(domain, input, ladder, result.score, result.bits))
        result.fill_promotions.push_back(step);
  }

  result.report = report_bits(expert_params(input), result.bits, input.other_weights, expert_extras(input));
  return result;
}

}  // namespace moqa::allocate
