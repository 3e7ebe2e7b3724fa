#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/rope.cuh"

namespace moqa::cuda {
namespace {

// One thread per rotated pair (row, head, frequency i). Products and sums are rounded separately
// (__fmul_rn / __fadd_rn) so that no fused multiply-add changes the result against the CPU.
__global__ void rope_kernel(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin,
                            backend::RopeLayout layout) {
  const int64_t half = layout.rot_dim / 2;
  const int64_t pairs = rows * layout.heads * half;
  for (int64_t idx = global_thread(); idx < pairs; idx += grid_threads()) {
    const int64_t i = idx % half;
    const int64_t head = (idx / half) % layout.heads;
    const int64_t row = idx / (half * layout.heads);
    const int64_t position = row % layout.seq_len;
    const float c = cos[position * half + i];
    const float s = sin[position * half + i];
    float* base = x + row * cols + head * layout.head_stride + layout.offset;
    float* a = layout.interleaved ? base + 2 * i : base + i;
    float* b = layout.interleaved ? base + 2 * i + 1 : base + i + half;
    const float a0 = *a, b0 = *b;
    *a = __fsub_rn(__fmul_rn(a0, c), __fmul_rn(b0, s));
    *b = __fadd_rn(__fmul_rn(b0, c), __fmul_rn(a0, s));
  }
}

}  // namespace

void rope(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin, const backend::RopeLayout& layout,
          cudaStream_t stream) {
  const int64_t pairs = rows * layout.heads * (layout.rot_dim / 2);
  if (pairs == 0) return;
  rope_kernel<<<grid_for(pairs), kThreads, 0, stream>>>(x, rows, cols, cos, sin, layout);
  MOQA_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace moqa::cuda
