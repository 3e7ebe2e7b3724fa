#include "quant/uniform_grid.h"

#include <algorithm>
#include <cfloat>

namespace moqa::quant {

GroupGrid fit_grid(std::span<const float> weights, int bits, bool symmetric) {
  const auto maxq = static_cast<float>(max_code(bits));
  GroupGrid grid;
  if (symmetric) {
    float absmax = 0.0f;
    for (float w : weights) absmax = std::max(absmax, std::fabs(w));
    grid.scale = 2.0f * (absmax / maxq);
    grid.zero = 1 << (bits - 1);
  } else {
    float lo = 0.0f;
    float hi = 0.0f;
    for (float w : weights) {
      lo = std::min(lo, w);
      hi = std::max(hi, w);
    }
    grid.scale = hi / maxq - lo / maxq;
    if (grid.scale >= FLT_MIN) {
      grid.zero = static_cast<int>(std::fmin(std::fmax(std::round(-lo / grid.scale), 0.0f), maxq));
    }
  }
  // All-zero or denormal groups: any positive scale represents them; 1 keeps w / scale finite.
  if (!(grid.scale >= FLT_MIN)) grid.scale = 1.0f;
  return grid;
}

}  // namespace moqa::quant
