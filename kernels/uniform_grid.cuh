#pragma once
// Device versions of quant::fit_grid / quantize_value / dequantize_value (src/quant/uniform_grid.h), for
// the GPTQ kernels (.cu files only). The float operations are the same, in the same order, with products
// and differences rounded separately (no fused multiply-add), so on the same weights a group gets the same
// (scale, zero) and every weight the same code as on the CPU. A change there must be made here too; the
// parity tests (tests/backend/cuda_quant_test.cpp) compare the two bit for bit.
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

namespace moqa::cuda {

struct DeviceGrid {
  float scale;
  int zero;
};

__device__ inline int max_code(int bits) { return (1 << bits) - 1; }

// From a group's min and max with 0 included (asymmetric) or its max |w| (symmetric).
__device__ inline DeviceGrid grid_from_range(float lo, float hi, float absmax, int bits, bool symmetric) {
  const float maxq = static_cast<float>(max_code(bits));
  DeviceGrid grid{1.0f, 0};
  if (symmetric) {
    grid.scale = 2.0f * (absmax / maxq);
    grid.zero = 1 << (bits - 1);
  } else {
    grid.scale = __fsub_rn(hi / maxq, lo / maxq);
    if (grid.scale >= FLT_MIN) grid.zero = static_cast<int>(fminf(fmaxf(roundf(-lo / grid.scale), 0.0f), maxq));
  }
  if (!(grid.scale >= FLT_MIN)) grid.scale = 1.0f;
  return grid;
}

__device__ inline uint8_t quantize_value(float w, DeviceGrid grid, int bits) {
  float v = w / grid.scale;
  if (!(v >= -256.0f)) v = -256.0f;
  if (v > 256.0f) v = 256.0f;
  int q = static_cast<int>(v);
  const float fraction = __fsub_rn(v, static_cast<float>(q));
  q += (fraction >= 0.5f) - (fraction <= -0.5f);
  q += grid.zero;
  const int maxq = max_code(bits);
  return static_cast<uint8_t>(q < 0 ? 0 : q > maxq ? maxq : q);
}

__device__ inline float dequantize_value(uint8_t code, DeviceGrid grid) {
  return __fmul_rn(grid.scale, static_cast<float>(static_cast<int>(code) - grid.zero));
}

}  // namespace moqa::cuda
