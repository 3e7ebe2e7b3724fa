#pragma once
// The dtype a quantized matrix stores its group scales in (docs/FORMATS.md, "Quantized tensors"). With f16
// the grid is fitted in float32 as usual and its scale is then rounded to the nearest half-precision value
// BEFORE any code is computed, so the codes are those of the grid the file stores: dequantizing the stored
// (f16 scale, zero, codes) gives exactly the values the quantizer computed and measured its error on.
// Used by RTN, GPTQ (CPU and the CUDA kernels: host and device code) and the channel cache.
#include <cfloat>
#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define MOQA_SCALE_HOST_DEVICE __host__ __device__
#else
#include "io/safetensors.h"
#define MOQA_SCALE_HOST_DEVICE
#endif

namespace moqa::quant {

enum class ScaleDtype : uint8_t { f16, f32 };

inline constexpr const char* scale_dtype_name(ScaleDtype dtype) { return dtype == ScaleDtype::f16 ? "f16" : "f32"; }

// Bytes one stored scale takes.
inline constexpr int scale_bytes(ScaleDtype dtype) { return dtype == ScaleDtype::f16 ? 2 : 4; }

// Largest finite half and smallest positive (subnormal) half.
inline constexpr float kF16Max = 65504.0f;
inline constexpr float kF16MinPositive = 5.9604644775390625e-8f;  // 2^-24

// The scale as the file stores it. f16: round to nearest even; a scale beyond the half range is clamped to
// 65504 (weights that large do not occur in a trained model; such a group's extreme weights then clamp to
// the end codes), one that rounds to 0 becomes 2^-24 (a group of weights below ~1e-5 in magnitude: its
// weights round to codes near the zero point, an absolute error below about 2^-24 * 2^bits). A positive
// finite scale stays positive and finite. f32: unchanged.
MOQA_SCALE_HOST_DEVICE inline float stored_scale(float scale, ScaleDtype dtype) {
  if (dtype == ScaleDtype::f32) return scale;
  if (scale >= kF16Max) return kF16Max;
#if defined(__CUDACC__)  // host and device passes of nvcc alike (cuda_fp16.h's conversions are both)
  const float rounded = __half2float(__float2half_rn(scale));
#else
  const float rounded = io::f16_to_f32(io::f32_to_f16(scale));
#endif
  return rounded > 0.0f ? rounded : kF16MinPositive;
}

}  // namespace moqa::quant
