#include <cuda_bf16.h>

#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/rows.cuh"

namespace moqa::cuda {
namespace {

template <class T>
__device__ inline float widen(T v);
template <>
__device__ inline float widen<float>(float v) {
  return v;
}
template <>
__device__ inline float widen<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

// One thread per output element; also serves gather_rows (a float32 "table" of x's rows).
template <class T>
__global__ void gather_kernel(const T* table, int64_t dim, const int32_t* ids, int64_t count, float* out) {
  const int64_t total = count * dim;
  for (int64_t idx = global_thread(); idx < total; idx += grid_threads()) {
    const int64_t i = idx / dim, c = idx % dim;
    out[idx] = widen(table[static_cast<int64_t>(ids[i]) * dim + c]);
  }
}

// One block per destination row; each thread owns columns and adds that row's entries in their order, with
// separately rounded products and sums as on the CPU.
__global__ void scatter_add_kernel(float* dst, int64_t cols, const float* src, const float* weights,
                                   const int32_t* target_rows, const int64_t* offsets, const int32_t* entries) {
  const int64_t u = blockIdx.x;
  float* d = dst + static_cast<int64_t>(target_rows[u]) * cols;
  const int64_t first = offsets[u], last = offsets[u + 1];
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float acc = d[c];
    for (int64_t e = first; e < last; ++e) {
      const int64_t i = entries[e];
      acc = __fadd_rn(acc, __fmul_rn(src[i * cols + c], weights[i]));
    }
    d[c] = acc;
  }
}

__global__ void copy_blocks_kernel(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t rows,
                                   backend::BlockCopy b) {
  const int64_t total = rows * b.count * b.width;
  for (int64_t idx = global_thread(); idx < total; idx += grid_threads()) {
    const int64_t j = idx % b.width;
    const int64_t i = (idx / b.width) % b.count;
    const int64_t r = idx / (b.width * b.count);
    dst[r * dst_cols + b.dst_offset + i * b.dst_stride + j] = src[r * src_cols + b.src_offset + i * b.src_stride + j];
  }
}

}  // namespace

void embedding_f32(const float* table, int64_t dim, const int32_t* ids, int64_t count, float* out,
                   cudaStream_t stream) {
  if (count * dim == 0) return;
  gather_kernel<<<grid_for(count * dim), kThreads, 0, stream>>>(table, dim, ids, count, out);
  MOQA_CUDA_CHECK_LAUNCH("gather_kernel<float>");
}

void embedding_bf16(const uint16_t* table, int64_t dim, const int32_t* ids, int64_t count, float* out,
                    cudaStream_t stream) {
  if (count * dim == 0) return;
  gather_kernel<<<grid_for(count * dim), kThreads, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(table), dim, ids,
                                                                count, out);
  MOQA_CUDA_CHECK_LAUNCH("gather_kernel<bfloat16>");
}

void gather_rows(const float* x, int64_t cols, const int32_t* rows, int64_t count, float* out, cudaStream_t stream) {
  embedding_f32(x, cols, rows, count, out, stream);
}

void scatter_add_rows(float* dst, int64_t cols, const float* src, const float* weights, const int32_t* target_rows,
                      const int64_t* offsets, const int32_t* entries, int64_t targets, cudaStream_t stream) {
  if (targets == 0 || cols == 0) return;
  scatter_add_kernel<<<exact_grid(targets, "scatter_add_rows"), reduction_threads(cols), 0, stream>>>(
      dst, cols, src, weights, target_rows, offsets, entries);
  MOQA_CUDA_CHECK_LAUNCH("scatter_add_kernel");
}

void copy_blocks(const float* src, int64_t src_cols, float* dst, int64_t dst_cols, int64_t rows,
                 const backend::BlockCopy& blocks, cudaStream_t stream) {
  const int64_t total = rows * blocks.count * blocks.width;
  if (total == 0) return;
  copy_blocks_kernel<<<grid_for(total), kThreads, 0, stream>>>(src, src_cols, dst, dst_cols, rows, blocks);
  MOQA_CUDA_CHECK_LAUNCH("copy_blocks_kernel");
}

}  // namespace moqa::cuda
