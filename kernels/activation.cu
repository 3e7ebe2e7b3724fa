#include <cuda_bf16.h>

#include "kernels/activation.cuh"
#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"

namespace moqa::cuda {
namespace {

__global__ void silu_mul_kernel(const float* gate, const float* up, int64_t count, float* out) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    const float g = gate[i];
    out[i] = __fmul_rn(g / (1.0f + expf(-g)), up[i]);
  }
}

__global__ void add_kernel(float* dst, const float* src, int64_t count) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) dst[i] += src[i];
}

__global__ void scale_rows_kernel(float* x, int64_t rows, int64_t cols, const float* scales) {
  const int64_t count = rows * cols;
  for (int64_t i = global_thread(); i < count; i += grid_threads()) x[i] *= scales[i / cols];
}

__global__ void sigmoid_kernel(float* x, int64_t count) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

// std::clamp's definition, so that NaN stays NaN as on the CPU.
__global__ void clamp_kernel(float* x, int64_t count, float limit) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    const float v = x[i];
    x[i] = v < -limit ? -limit : (limit < v ? limit : v);
  }
}

__global__ void add_bias_kernel(float* y, int64_t rows, int64_t cols, const float* bias) {
  const int64_t count = rows * cols;
  for (int64_t i = global_thread(); i < count; i += grid_threads()) y[i] += bias[i % cols];
}

__global__ void to_bfloat16_kernel(const float* in, int64_t count, __nv_bfloat16* out) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void from_bfloat16_kernel(const __nv_bfloat16* in, int64_t count, float* out) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) out[i] = __bfloat162float(in[i]);
}

}  // namespace

void silu_mul(const float* gate, const float* up, int64_t count, float* out, cudaStream_t stream) {
  if (count == 0) return;
  silu_mul_kernel<<<grid_for(count), kThreads, 0, stream>>>(gate, up, count, out);
  MOQA_CUDA_CHECK_LAUNCH("silu_mul_kernel");
}

void add(float* dst, const float* src, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  add_kernel<<<grid_for(count), kThreads, 0, stream>>>(dst, src, count);
  MOQA_CUDA_CHECK_LAUNCH("add_kernel");
}

void scale_rows(float* x, int64_t rows, int64_t cols, const float* scales, cudaStream_t stream) {
  if (rows * cols == 0) return;
  scale_rows_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(x, rows, cols, scales);
  MOQA_CUDA_CHECK_LAUNCH("scale_rows_kernel");
}

void sigmoid(float* x, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  sigmoid_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, count);
  MOQA_CUDA_CHECK_LAUNCH("sigmoid_kernel");
}

void clamp(float* x, int64_t count, float limit, cudaStream_t stream) {
  if (count == 0) return;
  clamp_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, count, limit);
  MOQA_CUDA_CHECK_LAUNCH("clamp_kernel");
}

void add_bias(float* y, int64_t rows, int64_t cols, const float* bias, cudaStream_t stream) {
  if (rows * cols == 0) return;
  add_bias_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(y, rows, cols, bias);
  MOQA_CUDA_CHECK_LAUNCH("add_bias_kernel");
}

void to_bfloat16(const float* in, int64_t count, uint16_t* out, cudaStream_t stream) {
  if (count == 0) return;
  to_bfloat16_kernel<<<grid_for(count), kThreads, 0, stream>>>(in, count, reinterpret_cast<__nv_bfloat16*>(out));
  MOQA_CUDA_CHECK_LAUNCH("to_bfloat16_kernel");
}

void from_bfloat16(const uint16_t* in, int64_t count, float* out, cudaStream_t stream) {
  if (count == 0) return;
  from_bfloat16_kernel<<<grid_for(count), kThreads, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(in), count,
                                                                 out);
  MOQA_CUDA_CHECK_LAUNCH("from_bfloat16_kernel");
}

}  // namespace moqa::cuda
