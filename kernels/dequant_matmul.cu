#include <cuda_bf16.h>

#include "kernels/check.cuh"
#include "kernels/dequant_matmul.cuh"
#include "kernels/device_utils.cuh"

namespace moqa::cuda {
namespace {

// Code c of a row (bit order of src/quant/bit_packing.h: a little-endian bit stream, code c at stream bits
// [c*bits, c*bits + bits), possibly straddling two words).
__device__ inline uint32_t code_at(const uint32_t* row_words, int64_t c, int bits) {
  const int64_t bit = c * bits;
  const int64_t word = bit / 32;
  const int offset = static_cast<int>(bit % 32);
  uint64_t window = row_words[word];
  if (offset + bits > 32) window |= static_cast<uint64_t>(row_words[word + 1]) << 32;
  return static_cast<uint32_t>((window >> offset) & ((1u << bits) - 1u));
}

// scale * (code - zero) for element (r, c), as quant::dequantize computes it.
__device__ inline float weight_at(const PackedMatrixView& w, int64_t r, int64_t c) {
  const int64_t groups = w.cols / w.group_size;
  const int64_t g = w.g_idx ? static_cast<int64_t>(w.g_idx[c]) : c / w.group_size;
  const uint32_t code = code_at(w.packed + r * w.words_per_row, c, w.bits);
  return __fmul_rn(w.scales[r * groups + g],
                   static_cast<float>(static_cast<int>(code) - static_cast<int>(w.zeros[r * groups + g])));
}

__global__ void dequantize_f32_kernel(PackedMatrixView w, float* out) {
  for (int64_t idx = global_thread(); idx < w.rows * w.cols; idx += grid_threads()) {
    out[idx] = weight_at(w, idx / w.cols, idx % w.cols);
  }
}

__global__ void dequantize_bf16_kernel(PackedMatrixView w, __nv_bfloat16* out) {
  for (int64_t idx = global_thread(); idx < w.rows * w.cols; idx += grid_threads()) {
    out[idx] = __float2bfloat16_rn(weight_at(w, idx / w.cols, idx % w.cols));
  }
}

// One warp per output feature o; lanes stride over the input columns; N rows of x at once.
// TODO(measure on the device): 16-byte loads of whole words per lane instead of per-code extraction.
template <int N>
__global__ void dequant_matmul_small_kernel(PackedMatrixView w, const float* x, float* y) {
  const int64_t o = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (o >= w.rows) return;  // uniform per warp
  float acc[N];
#pragma unroll
  for (int r = 0; r < N; ++r) acc[r] = 0.0f;
  for (int64_t c = lane; c < w.cols; c += 32) {
    const float weight = weight_at(w, o, c);
#pragma unroll
    for (int r = 0; r < N; ++r) acc[r] += weight * x[r * w.cols + c];
  }
#pragma unroll
  for (int r = 0; r < N; ++r) {
    const float total = warp_sum(acc[r]);
    if (lane == 0) y[r * w.rows + o] = total;
  }
}

template <int N>
void launch_small(const PackedMatrixView& w, const float* x, float* y, cudaStream_t stream) {
  constexpr int kWarpsPerBlock = 8;
  const unsigned blocks = exact_grid((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock, "dequant_matmul_small");
  dequant_matmul_small_kernel<N><<<blocks, kWarpsPerBlock * 32, 0, stream>>>(w, x, y);
  MOQA_CUDA_CHECK_LAUNCH("dequant_matmul_small_kernel");
}

}  // namespace

void dequantize_f32(const PackedMatrixView& w, float* out, cudaStream_t stream) {
  if (w.rows * w.cols == 0) return;
  dequantize_f32_kernel<<<grid_for(w.rows * w.cols), kThreads, 0, stream>>>(w, out);
  MOQA_CUDA_CHECK_LAUNCH("dequantize_f32_kernel");
}

void dequantize_bf16(const PackedMatrixView& w, uint16_t* out, cudaStream_t stream) {
  if (w.rows * w.cols == 0) return;
  dequantize_bf16_kernel<<<grid_for(w.rows * w.cols), kThreads, 0, stream>>>(w, reinterpret_cast<__nv_bfloat16*>(out));
  MOQA_CUDA_CHECK_LAUNCH("dequantize_bf16_kernel");
}

void dequant_matmul_small(const PackedMatrixView& w, const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (w.rows == 0 || n == 0) return;
  switch (n) {
    case 1:
      return launch_small<1>(w, x, y, stream);
    case 2:
      return launch_small<2>(w, x, y, stream);
    case 3:
      return launch_small<3>(w, x, y, stream);
    case 4:
      return launch_small<4>(w, x, y, stream);
    case 5:
      return launch_small<5>(w, x, y, stream);
    case 6:
      return launch_small<6>(w, x, y, stream);
    case 7:
      return launch_small<7>(w, x, y, stream);
    case 8:
      return launch_small<8>(w, x, y, stream);
    default:
      fail("dequant_matmul_small: ", n, " rows, supported 1..", kMaxFusedRows);
  }
}

}  // namespace moqa::cuda
