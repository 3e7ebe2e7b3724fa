#include <cfloat>

#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/loss.cuh"

namespace moqa::cuda {
namespace {

// One block per row: max, then the sum of exp(x - max) (float exp, double sum, as on the CPU).
__global__ void nll_kernel(const float* logits, int64_t cols, const int32_t* targets, float* out) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  const int64_t r = blockIdx.x;
  const float* row = logits + r * cols;
  float local_max = -FLT_MAX;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) local_max = fmaxf(local_max, row[c]);
  const float max_logit = block_max(local_max, max_scratch);
  double sum = 0.0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(row[c] - max_logit);
  sum = block_sum(sum, sum_scratch);
  if (threadIdx.x == 0) {
    out[r] = static_cast<float>(log(sum) + static_cast<double>(max_logit) - static_cast<double>(row[targets[r]]));
  }
}

}  // namespace

void nll(const float* logits, int64_t rows, int64_t cols, const int32_t* targets, float* out, cudaStream_t stream) {
  if (rows == 0) return;
  nll_kernel<<<exact_grid(rows, "nll"), reduction_threads(cols), 0, stream>>>(logits, cols, targets, out);
  MOQA_CUDA_CHECK_LAUNCH("nll_kernel");
}

}  // namespace moqa::cuda
