#pragma once
// Element-wise kernels on float32 arrays, and the float32 <-> bfloat16 conversions of weight storage.
// References: src/backend/cpu/elementwise.cpp (silu_mul, add, scale_rows, sigmoid, clamp). bfloat16 values
// travel as their raw 16-bit patterns (uint16_t) so that host code needs no CUDA half-precision header.
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

void silu_mul(const float* gate, const float* up, int64_t count, float* out, cudaStream_t stream);
void add(float* dst, const float* src, int64_t count, cudaStream_t stream);
void scale_rows(float* x, int64_t rows, int64_t cols, const float* scales, cudaStream_t stream);
void sigmoid(float* x, int64_t count, cudaStream_t stream);
void clamp(float* x, int64_t count, float limit, cudaStream_t stream);
// y[r, c] += bias[c] for y [rows, cols].
void add_bias(float* y, int64_t rows, int64_t cols, const float* bias, cudaStream_t stream);

// Round to nearest even (the conversion torch uses for .to(torch.bfloat16)).
void to_bfloat16(const float* in, int64_t count, uint16_t* out, cudaStream_t stream);
void from_bfloat16(const uint16_t* in, int64_t count, float* out, cudaStream_t stream);

}  // namespace moqa::cuda
