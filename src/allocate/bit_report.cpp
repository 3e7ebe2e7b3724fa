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
                       const std::vector<std::vector<ExpertExtra>>& extras) {
  MOQA_CHECK(expert_params.size() == expert_bits.size(), "bit report: ", expert_bits.size(),
             " layers of bits for ", expert_params.size(), " layers of parameter counts");
  const bool has_extras = !extras.empty();
  MOQA_CHECK(!has_extras || extras.size() == expert_params.size(), "bit report: ", extras.size(),
             " layers of expert extras for ", expert_params.size(), " layers");
  BitsReport report;
  for (size_t layer = 0; layer < expert_params.size(); ++layer) {
    const auto& params = expert_params[layer];
    const auto& bits = expert_bits[layer];
    MOQA_CHECK(params.size() == bits.size(), "bit report: layer ", layer, " has ", bits.size(),
               " expert widths for ", params.size(), " experts");
    MOQA_CHECK(!has_extras || extras[layer].size() == params.size(), "bit report: layer ", layer, " has ",
               extras[layer].size(), " expert extras for ", params.size(), " experts");
    int64_t layer_params = 0;
    int64_t layer_bit_params = 0;
    for (size_t expert = 0; expert < params.size(); ++expert) {
      const std::string what = cat("layer ", layer, " expert ", expert);
      const ExpertExtra extra = has_extras ? extras[layer][expert] : ExpertExtra{};
      layer_bit_params = checked_add(layer_bit_params, params[expert], bits[expert], what);
      layer_bit_params = checked_add(layer_bit_params, extra.part_bits, 1, what + " (cached channels)");
      report.expert_overhead_bits = checked_add(report.expert_overhead_bits, extra.overhead_bits, 1, what + " (overhead)");
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
    report.other_overhead_bits = checked_add(report.other_overhead_bits, group.overhead_bits, 1, what + " (overhead)");
  }
  report.expert_mean_bits = ratio(report.expert_bit_params, report.expert_params);
  report.all_linear_mean_bits = ratio(report.expert_bit_params + report.other_bit_params,
                                      report.expert_params + report.other_params);
  report.expert_stored_mean_bits = ratio(report.expert_bit_params + report.expert_overhead_bits, report.expert_params);
  report.all_linear_stored_mean_bits =
      ratio(report.expert_bit_params + report.expert_overhead_bits + report.other_bit_params + report.other_overhead_bits,
            report.expert_params + report.other_params);
  return report;
}

}  // namespace moqa::allocate
