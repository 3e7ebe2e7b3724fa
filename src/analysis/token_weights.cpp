#include "analysis/token_weights.h"

#include <algorithm>
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
  // f^(-a) relative to the rarest sampled id, whose term is then exactly 1: Z cancels the common factor,
  // and a large `a` can no longer underflow every term to 0 (which made Z = 0 and the weights NaN).
  int64_t rarest = positions;
  for (const int64_t f : frequency)
    if (f > 0) rarest = std::min(rarest, f);
  double total = 0.0;  // Σ_id f · (f / rarest)^(-a), ascending id: the same order on every rank
  for (size_t id = 0; id < frequency.size(); ++id) {
    if (frequency[id] == 0) continue;
    const double f = static_cast<double>(frequency[id]);
    weight[id] = std::pow(f / static_cast<double>(rarest), -a);
    total += f * weight[id];
  }
  const double z = total / static_cast<double>(positions);
  for (double& w : weight) w /= z;
  return weight;
}

}  // namespace moqa::analysis
