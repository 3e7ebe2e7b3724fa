#include "analysis/token_weights.h"

#include <cmath>

#include "core/error.h"

namespace moqa::analysis {

std::vector<double> token_reweighting(std::span<const int32_t> stream, std::span<const int64_t> starts,
                                      int64_t seq_len, double a) {
  MOQA_CHECK(std::isfinite(a) && a >= 0.0, "analysis.token_reweighting: found ", a, ", expected a finite a >= 0");
  MOQA_CHECK(seq_len > 0, "analysis: token re-weighting over windows of ", seq_len, " tokens");
  std::vector<int64_t> frequency;
  int64_t positions = 0;
  for (const int64_t start : starts) {
    MOQA_CHECK(start >= 0 && start + seq_len <= static_cast<int64_t>(stream.size()), "analysis: sampled window [",
               start, ", ", start + seq_len, ") outside the token stream of ", stream.size(), " tokens");
    for (int64_t p = start; p < start + seq_len; ++p) {
      const int32_t id = stream[static_cast<size_t>(p)];
      MOQA_CHECK(id >= 0, "analysis: negative token id ", id, " at stream position ", p);
      if (static_cast<size_t>(id) >= frequency.size()) frequency.resize(static_cast<size_t>(id) + 1, 0);
      ++frequency[static_cast<size_t>(id)];
      ++positions;
    }
  }
  std::vector<double> weight(frequency.size(), 0.0);
  if (positions == 0) return weight;
  double total = 0.0;  // Σ_id f^(1-a), ascending id: the same order on every rank
  for (size_t id = 0; id < frequency.size(); ++id) {
    if (frequency[id] == 0) continue;
    const double f = static_cast<double>(frequency[id]);
    weight[id] = std::pow(f, -a);
    total += f * weight[id];
  }
  const double z = total / static_cast<double>(positions);
  for (double& w : weight) w /= z;
  return weight;
}

}  // namespace moqa::analysis
