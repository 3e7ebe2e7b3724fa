#pragma once
// RMSNorm on the device; reference: backend::cpu::rms_norm (src/backend/cpu/norm.cpp).
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// y = weight * x / sqrt(mean(x²) + eps) over every group of `group` consecutive columns of x [rows, cols]
// (cols a multiple of group); the sum of squares is accumulated in double as on the CPU.
void rms_norm(const float* x, int64_t rows, int64_t cols, const float* weight, int64_t group, float eps, float* y,
              cudaStream_t stream);

}  // namespace moqa::cuda
