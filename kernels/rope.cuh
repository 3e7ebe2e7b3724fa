#pragma once
// Rotary position embedding on the device, in place; reference: backend::cpu::rope (src/backend/cpu/rope.cpp).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/shapes.h"

namespace moqa::cuda {

// x [rows, cols]; cos, sin [seq_len, rot_dim / 2]. Shapes are checked by the caller.
void rope(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin, const backend::RopeLayout& layout,
          cudaStream_t stream);

}  // namespace moqa::cuda
