#pragma once
// The float arithmetic of one uniform quantization grid, shared word for word by the CPU (uniform_grid.h,
// RTN, GPTQ) and the CUDA GPTQ kernels (kernels/gptq.cu): the same operations in the same order, products and
// differences rounded separately (no fused multiply-add on the device), so a group gets the same (scale, zero)
// and every weight the same code on both. Plain C++17 (nvcc compiles the kernels as C++17).
//
// Grid: code q in [0, maxq], maxq = 2^bits - 1, value scale * (q - zero), zero an integer in [0, maxq].
// A group is summarised by lo = min(min w, 0) and hi = max(max w, 0) (the range always contains 0).
// Two rules:
//  - GridRule::moqa (RTN, and GPTQ's "updated-groups" variant):
//    asymmetric: scale = hi / maxq - lo / maxq (two divisions, so no overflow),
//      zero = clamp(round(-lo / scale), 0, maxq);
//    symmetric: zero = 2^(bits-1), scale = 2 * (max|w| / maxq) (all 2^bits codes used);
//    rounding half away from zero.
//  - GridRule::gptq_reference (the published GPTQ's Quantizer, IST-DASLab/gptq quant.py, mse=False):
//    symmetric first sets hi = max(-lo, hi) and, only when lo < 0, lo = -hi (a group without negative
//    weights keeps lo = 0: its scale is max|w| / maxq, half the moqa rule's, and the grid centred on 0 then
//    reaches only about +-max|w| / 2); a group with lo == hi == 0 becomes [-1, +1];
//    scale = (hi - lo) / maxq; zero = 2^(bits-1) (symmetric) or round(-lo / scale);
//    rounding half to even (torch.round).
// Both: a scale that is not a positive normal float (denormal magnitudes; moqa: also an all-zero group)
// becomes 1 with zero clamped as above (every weight then rounds near the code of 0); no NaN, no division by
// zero. Codes: q = clamp(round(w / scale) + zero, 0, maxq); a NaN quotient gives code 0.
#include <cfloat>
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define MOQA_HOST_DEVICE __host__ __device__
#else
#define MOQA_HOST_DEVICE
#endif

namespace moqa::quant {

enum class GridRule : uint8_t { moqa, gptq_reference };

struct GroupGrid {
  float scale = 1.0f;
  int zero = 0;
};

MOQA_HOST_DEVICE inline int max_code(int bits) { return (1 << bits) - 1; }

// a - b and a * b rounded once each (never contracted into an FMA on the device).
MOQA_HOST_DEVICE inline float sub_rounded(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
MOQA_HOST_DEVICE inline float mul_rounded(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// lo <= 0 <= hi: the group's min and max with 0 included.
MOQA_HOST_DEVICE inline GroupGrid grid_from_range(float lo, float hi, int bits, bool symmetric, GridRule rule) {
  const auto maxq = static_cast<float>(max_code(bits));
  GroupGrid grid;
  if (rule == GridRule::gptq_reference) {
    if (symmetric) {
      hi = fmaxf(-lo, hi);
      if (lo < 0.0f) lo = -hi;
    }
    if (lo == 0.0f && hi == 0.0f) {
      lo = -1.0f;
      hi = 1.0f;
    }
    grid.scale = sub_rounded(hi, lo) / maxq;
    grid.zero = symmetric ? 1 << (bits - 1) : static_cast<int>(fminf(fmaxf(rintf(-lo / grid.scale), 0.0f), maxq));
  } else if (symmetric) {
    grid.scale = 2.0f * (fmaxf(-lo, hi) / maxq);
    grid.zero = 1 << (bits - 1);
  } else {
    grid.scale = sub_rounded(hi / maxq, lo / maxq);
    if (grid.scale >= FLT_MIN) grid.zero = static_cast<int>(fminf(fmaxf(roundf(-lo / grid.scale), 0.0f), maxq));
  }
  if (!(grid.scale >= FLT_MIN)) grid.scale = 1.0f;
  return grid;
}

MOQA_HOST_DEVICE inline uint8_t quantize_value(float w, GroupGrid grid, int bits, GridRule rule) {
  // Any quotient beyond +-256 clamps to the same code, and inside that range the integer conversion and the
  // subtraction are exact, so both roundings are done without a libm call (RTN's hot loop).
  float v = w / grid.scale;
  if (!(v >= -256.0f)) v = -256.0f;  // also NaN -> code 0
  if (v > 256.0f) v = 256.0f;
  int q = static_cast<int>(v);  // truncates toward zero
  const float fraction = sub_rounded(v, static_cast<float>(q));
  if (rule == GridRule::gptq_reference) {  // half to even: a tie moves only an odd q
    q += (fraction > 0.5f || (fraction == 0.5f && (q & 1))) - (fraction < -0.5f || (fraction == -0.5f && (q & 1)));
  } else {
    q += (fraction >= 0.5f) - (fraction <= -0.5f);
  }
  q += grid.zero;
  const int maxq = max_code(bits);
  return static_cast<uint8_t>(q < 0 ? 0 : q > maxq ? maxq : q);
}

MOQA_HOST_DEVICE inline float dequantize_value(uint8_t code, GroupGrid grid) {
  return mul_rounded(grid.scale, static_cast<float>(static_cast<int>(code) - grid.zero));
}

}  // namespace moqa::quant
