#include "allocate/bit_report.h"

#include <limits>

#include "core/error.h"

namespace moqa::allocate {
namespace {

// Parameter-bit totals of a large model (1e11 params x 16 bits) fit int64 easily; the guard only
// catches corrupted counts before they wrap.
int64_t checked_add(int64_t total, int64_t params, int bits, const std::string& what) {
  constexpr int64_t limit = std::numeric_limits<int64_t>::max() / 64;
  MOQA_CHECK(params >= 0 && params <= limit, "bit report: ", what, " has parameter count ", params,
             ", expected 0..", limit);
  MOQA_CHECK(bits >= 1 && bits <= 32, "bit report: ", what, " has ", bits, " bits, expected 1..32");
  const int64_t added = params * bits;
  MOQA_CHECK(total <= std::numeric_limits<int64_t>::max() - added, "bit report: parameter-bit total overflows at ",
             what);
  return total + added;
}

double ratio(int64_t numerator, int64_t denominator) {
  return denominator > 0 ? static_cast<double>(numerator) / static_cast<double>(denominator) : 0.0;
}

}  // namespace

BitsReport report_bits(const std::vector<std::vector<int64_t>>& expert_params,
                       const std::vector<std::vector<int>>& expert_bits, const std::vector<WeightGroup>& other_weights,
                       const std::vector<std::vector<ExpertPart>>& parts) {
  MOQA_CHECK(expert_params.size() == expert_bits.size(), "bit report: ", expert_bits.size(),
             " layers of bits for ", expert_params.size(), " layers of parameter counts");
  const bool has_parts = !parts.empty();
  MOQA_CHECK(!has_parts || parts.size() == expert_params.size(), "bit report: ", parts.size(),
             " layers of expert parts for ", expert_params.size(), " layers");
  BitsReport report;
  for (size_t layer = 0; layer < expert_params.size(); ++layer) {
    const auto& params = expert_params[layer];
    const auto& bits = expert_bits[layer];
    MOQA_CHECK(params.size() == bits.size(), "bit report: layer ", layer, " has ", bits.size(),
               " expert widths for ", params.size(), " experts");
    MOQA_CHECK(!has_parts || parts[layer].size() == params.size(), "bit report: layer ", layer, " has ",
               parts[layer].size(), " expert parts for ", params.size(), " experts");
    int64_t layer_params = 0;
    int64_t layer_bit_params = 0;
    for (size_t expert = 0; expert < params.size(); ++expert) {
      const std::string what = cat("layer ", layer, " expert ", expert);
      const ExpertPart part = has_parts ? parts[layer][expert] : ExpertPart{};
      MOQA_CHECK(part.params >= 0 && part.params <= params[expert], "bit report: ", what, " has a part of ",
                 part.params, " parameters, expected 0..", params[expert]);
      layer_bit_params = checked_add(layer_bit_params, params[expert] - part.params, bits[expert], what);
      layer_bit_params = checked_add(layer_bit_params, part.params, part.bits, what);
      layer_params = checked_add(layer_params, params[expert], 1, what);
    }
    report.layer_mean_bits.push_back(ratio(layer_bit_params, layer_params));
    report.expert_params = checked_add(report.expert_params, layer_params, 1, cat("layer ", layer));
    report.expert_bit_params = checked_add(report.expert_bit_params, layer_bit_params, 1, cat("layer ", layer));
  }
  for (const WeightGroup& group : other_weights) {
    const std::string what = cat("weight group '", group.name, "'");
    report.other_bit_params = checked_add(report.other_bit_params, group.params, group.bits, what);
    report.other_params = checked_add(report.other_params, group.params, 1, what);
  }
  report.expert_mean_bits = ratio(report.expert_bit_params, report.expert_params);
  report.all_linear_mean_bits = ratio(report.expert_bit_params + report.other_bit_params,
                                      report.expert_params + report.other_params);
  return report;
}

}  // namespace moqa::allocate
