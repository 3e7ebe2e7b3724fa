#pragma once
// Packed 2/3/4/6/8-bit weights (quant::QuantizedMatrix, docs/FORMATS.md "Quantized tensors") on the device:
// dequantization, and y = x · Wᵀ straight from the packed codes. Reference: quant::dequantize followed by
// backend::cpu::linear.
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// A quantized matrix W [rows = out_features, cols = in_features] in device memory.
struct PackedMatrixView {
  int64_t rows = 0;
  int64_t cols = 0;
  int bits = 0;
  int64_t group_size = 0;
  int64_t words_per_row = 0;         // ceil(cols * bits / 32): each row starts on a fresh word
  const uint32_t* packed = nullptr;  // [rows, words_per_row]
  const float* scales = nullptr;     // [rows, cols / group_size]
  const uint8_t* zeros = nullptr;    // [rows, cols / group_size]
  const int32_t* g_idx = nullptr;    // null (column c in group c / group_size) or [cols]
};

// W as float32 [rows, cols], or as bfloat16 (raw 16-bit patterns, round to nearest even).
void dequantize_f32(const PackedMatrixView& w, float* out, cudaStream_t stream);
void dequantize_bf16(const PackedMatrixView& w, uint16_t* out, cudaStream_t stream);

// y [n, w.rows] = x [n, w.cols] · Wᵀ for 1 <= n <= kMaxFusedRows, reading every packed word once per call
// (one warp per output feature, float32 accumulation). Larger n: dequantize and use a matrix product.
constexpr int64_t kMaxFusedRows = 8;
void dequant_matmul_small(const PackedMatrixView& w, const float* x, int64_t n, float* y, cudaStream_t stream);

}  // namespace moqa::cuda
