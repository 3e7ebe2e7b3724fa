#include "quant/uniform_grid.h"

#include <algorithm>

namespace moqa::quant {

GroupGrid fit_grid(std::span<const float> weights, int bits, bool symmetric, GridRule rule) {
  float lo = 0.0f;
  float hi = 0.0f;
  for (float w : weights) {
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  return grid_from_range(lo, hi, bits, symmetric, rule);
}

}  // namespace moqa::quant
