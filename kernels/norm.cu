#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/norm.cuh"

namespace moqa::cuda {
namespace {

// One block per (row, group): block b covers x[b * group, (b + 1) * group), since rows * cols = blocks * group.
__global__ void rms_norm_kernel(const float* x, const float* weight, int64_t group, float eps, float* y) {
  __shared__ double scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * group;
  double squares = 0.0;
  for (int64_t c = threadIdx.x; c < group; c += blockDim.x) {
    const double v = x[base + c];
    squares += v * v;
  }
  squares = block_sum(squares, scratch);
  const float inv = static_cast<float>(1.0 / sqrt(squares / static_cast<double>(group) + static_cast<double>(eps)));
  for (int64_t c = threadIdx.x; c < group; c += blockDim.x) y[base + c] = weight[c] * (x[base + c] * inv);
}

}  // namespace

void rms_norm(const float* x, int64_t rows, int64_t cols, const float* weight, int64_t group, float eps, float* y,
              cudaStream_t stream) {
  const int64_t blocks = rows * (cols / group);
  if (blocks == 0) return;
  rms_norm_kernel<<<exact_grid(blocks, "rms_norm"), reduction_threads(group), 0, stream>>>(x, weight, group, eps, y);
  MOQA_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

}  // namespace moqa::cuda
