#pragma once
// The uniform integer grid of one quantization group: fitting (scale, zero) to a group of weights and
// rounding a weight onto it. RTN and GPTQ both go through these functions, so a GPTQ run whose error
// feedback is zero (identity Hessian) reproduces RTN bit for bit with the same rule; the CUDA kernels use the
// same arithmetic (grid_arithmetic.h, where the grid and both rules are specified).
// Within the fitted range |w - dequantized| <= scale / 2.
#include <cstdint>
#include <span>

#include "quant/grid_arithmetic.h"

namespace moqa::quant {

GroupGrid fit_grid(std::span<const float> weights, int bits, bool symmetric, GridRule rule = GridRule::moqa);

inline uint8_t quantize_value(float w, GroupGrid grid, int bits) {
  return quantize_value(w, grid, bits, GridRule::moqa);
}

}  // namespace moqa::quant
