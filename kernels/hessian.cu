#include <algorithm>

#include "kernels/check.cuh"
#include "kernels/device_memory.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/hessian.cuh"

namespace moqa::cuda {
namespace {

__global__ void first_non_finite_kernel(const float* x, int64_t count, unsigned long long* first) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    if (!isfinite(x[i])) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

__global__ void widen_kernel(const float* x, int64_t count, double* out) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) out[i] = x[i];
}

}  // namespace

int64_t first_non_finite(const float* x, int64_t count, cudaStream_t stream) {
  if (count == 0) return -1;
  const unsigned long long none = ~0ULL;
  DeviceArray<unsigned long long> first = to_device(&none, 1, stream);
  first_non_finite_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, count, first.data());
  MOQA_CUDA_CHECK_LAUNCH("first_non_finite_kernel");
  const unsigned long long found = to_host(first.data(), 1, stream)[0];
  return found == none ? -1 : static_cast<int64_t>(found);
}

void accumulate_hessian(cublasHandle_t blas, const float* x, int64_t count, int64_t cols, double* sum,
                        int64_t chunk_bytes, cudaStream_t stream) {
  if (count == 0) return;
  MOQA_CHECK(cols > 0 && cols <= 2147483647, "cuda Hessian: ", cols, " columns exceed cuBLAS's int range");
  const int64_t chunk_rows =
      std::max<int64_t>(1, std::min<int64_t>({count, chunk_bytes / (cols * 8), int64_t{2147483647}}));
  DeviceArray<double> wide(static_cast<size_t>(chunk_rows * cols), stream);
  const double one = 1.0;
  for (int64_t first = 0; first < count; first += chunk_rows) {
    const int64_t n = std::min(chunk_rows, count - first);
    widen_kernel<<<grid_for(n * cols), kThreads, 0, stream>>>(x + first * cols, n * cols, wide.data());
    MOQA_CUDA_CHECK_LAUNCH("widen_kernel");
    // Row-major X [n, cols] is the column-major cols x n matrix Xᵀ; syrk without transpose adds Xᵀ X. The
    // row-major upper triangle is the column-major lower one.
    MOQA_CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, static_cast<int>(cols),
                                  static_cast<int>(n), &one, wide.data(), static_cast<int>(cols), &one, sum,
                                  static_cast<int>(cols)));
  }
}

}  // namespace moqa::cuda
