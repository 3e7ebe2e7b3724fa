#pragma once
// Grouped GEMM for routed experts: for each group g of consecutive rows of x, y_g = x_g · W_gᵀ with a
// bfloat16 weight W_g [n, k] per group, in ONE launch (instead of a loop of small GEMMs). x and y are
// float32; x is rounded to bfloat16 on its way into shared memory, products accumulate in float32 on the
// tensor cores (WMMA 16x16x16). Reference: backend::cpu::linear per group.
// Correct first: 64x64 output tiles, scalar global loads, no pipelining. TODO(measure on the device):
// 16-byte loads / cp.async staging, larger tiles, wgmma (sm_90a) once timings show where the gap is.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace moqa::cuda {

// x [Σ group_rows, k]; weights[g]: device pointer to W_g [n, k] (bfloat16 bits); y [Σ group_rows, n].
// Groups with no rows are skipped.
void grouped_gemm_bf16(const float* x, int64_t k, int64_t n, const std::vector<const uint16_t*>& weights,
                       const std::vector<int64_t>& group_rows, float* y, cudaStream_t stream);

}  // namespace moqa::cuda
