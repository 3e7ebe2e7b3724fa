#pragma once
// The uniform integer grid of one quantization group: fitting (scale, zero) to a group of weights and
// rounding a weight onto it. RTN and GPTQ both go through these functions, so a GPTQ run whose error
// feedback is zero (identity Hessian) reproduces RTN bit for bit; the CUDA kernels must match them too.
//
// Grid: code q in [0, maxq], maxq = 2^bits - 1, value scale * (q - zero), zero an integer in [0, maxq].
//  - asymmetric: the range [min(w), max(w)] is widened to contain 0 (so 0 is exactly representable and
//    zero fits in [0, maxq]); scale = hi / maxq - lo / maxq (two divisions, so no overflow),
//    zero = clamp(round(-lo / scale), 0, maxq).
//  - symmetric: zero = 2^(bits-1), scale = 2 * (max|w| / maxq) (all 2^bits codes used; the grid reaches
//    -max|w| * 2^bits / maxq below and max|w| * (2^bits - 2) / maxq above).
//  - a group whose scale would not be a positive normal float (all zeros, or denormal magnitudes) gets
//    scale = 1 (every weight then rounds to the code of 0); no NaN, no division by zero.
// Rounding: q = clamp(round(w / scale) + zero, 0, maxq), round = half away from zero (std::round, CUDA
// roundf); a NaN quotient gives code 0. Within the fitted range |w - dequantized| <= scale / 2.
#include <cmath>
#include <cstdint>
#include <span>

namespace moqa::quant {

struct GroupGrid {
  float scale = 1.0f;
  int zero = 0;
};

inline int max_code(int bits) { return (1 << bits) - 1; }

GroupGrid fit_grid(std::span<const float> weights, int bits, bool symmetric);

inline uint8_t quantize_value(float w, GroupGrid grid, int bits) {
  // Any quotient beyond +-256 clamps to the same code, and inside that range the integer conversion and
  // the subtraction are exact, so this is round-half-away-from-zero without a libm call (RTN's hot loop).
  float v = w / grid.scale;
  if (!(v >= -256.0f)) v = -256.0f;  // also NaN -> code 0
  if (v > 256.0f) v = 256.0f;
  int q = static_cast<int>(v);  // truncates toward zero
  const float fraction = v - static_cast<float>(q);
  q += (fraction >= 0.5f) - (fraction <= -0.5f);
  q += grid.zero;
  return static_cast<uint8_t>(q < 0 ? 0 : q > max_code(bits) ? max_code(bits) : q);
}

inline float dequantize_value(uint8_t code, GroupGrid grid) {
  return grid.scale * static_cast<float>(static_cast<int>(code) - grid.zero);
}

}  // namespace moqa::quant
