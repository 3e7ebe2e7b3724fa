#pragma once
// Rotary position embedding on the device, in place; reference: backend::cpu::rope (src/backend/cpu/rope.cpp).
#include <cuda_runtime.h>

#include <cstdint>

namespace moqa::cuda {

// The fields of backend::RopeLayout, restated so that this header needs no C++20 project header.
struct RopeParams {
  int64_t seq_len = 0;
  int64_t heads = 1;
  int64_t head_stride = 0;
  int64_t offset = 0;
  int64_t rot_dim = 0;
  bool interleaved = false;
};

// x [rows, cols]; cos, sin [seq_len, rot_dim / 2]. Shapes are checked by the caller.
void rope(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin, const RopeParams& layout,
          cudaStream_t stream);

}  // namespace moqa::cuda
