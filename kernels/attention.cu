#include <algorithm>
#include <cfloat>
#include <vector>

#include "kernels/attention.cuh"
#include "kernels/check.cuh"
#include "kernels/device_memory.cuh"
#include "kernels/device_utils.cuh"

namespace moqa::cuda {
namespace {

// One block per score row (pair, query i): keys j in [oldest, i] are visible; the row becomes
// softmax over them (float exp, double sum, as on the CPU) and 0 elsewhere, ready for P V.
__global__ void masked_softmax_kernel(float* scores, int64_t seq_len, int64_t window) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  const int64_t row_index = blockIdx.x;  // pair * seq_len + i
  const int64_t i = row_index % seq_len;
  float* row = scores + row_index * seq_len;
  const int64_t oldest = window > 0 ? (i + 1 - window > 0 ? i + 1 - window : 0) : 0;
  float local_max = -FLT_MAX;
  for (int64_t j = oldest + threadIdx.x; j <= i; j += blockDim.x) local_max = fmaxf(local_max, row[j]);
  const float max_score = block_max(local_max, max_scratch);
  double sum = 0.0;
  for (int64_t j = oldest + threadIdx.x; j <= i; j += blockDim.x) {
    const float e = expf(row[j] - max_score);
    row[j] = e;
    sum += e;
  }
  sum = block_sum(sum, sum_scratch);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = threadIdx.x; j < seq_len; j += blockDim.x) {
    row[j] = (j >= oldest && j <= i) ? row[j] * inv : 0.0f;
  }
}

int checked_int(int64_t value, const char* what) {
  MOQA_CHECK(value >= 0 && value <= 2147483647, "cuda attention: ", what, " = ", value, " exceeds cuBLAS's int range");
  return static_cast<int>(value);
}

}  // namespace

void attention(cublasHandle_t blas, const float* q, const float* k, const float* v, const backend::AttentionShape& s,
               float* out, int64_t scratch_bytes, cudaStream_t stream) {
  const int64_t pairs = s.windows * s.heads;
  if (pairs == 0 || s.seq_len == 0) return;
  const int64_t group = s.heads / s.kv_heads;
  const int64_t ldq = s.heads * s.qk_dim, ldk = s.kv_heads * s.qk_dim, ldv = s.kv_heads * s.v_dim;
  const int64_t ldo = s.heads * s.v_dim;
  const int64_t score_floats = s.seq_len * s.seq_len;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(pairs, scratch_bytes / (score_floats * 4)));
  const int seq = checked_int(s.seq_len, "seq_len");
  const int qk = checked_int(s.qk_dim, "qk_dim");
  const int vd = checked_int(s.v_dim, "v_dim");
  checked_int(ldq, "heads * qk_dim");
  checked_int(ldk, "kv_heads * qk_dim");
  checked_int(ldv, "kv_heads * v_dim");
  checked_int(ldo, "heads * v_dim");

  DeviceArray<float> scores(static_cast<size_t>(chunk * score_floats), stream);
  for (int64_t first = 0; first < pairs; first += chunk) {
    const int64_t count = std::min(chunk, pairs - first);
    // Per pair p = window * heads + head: the matrices of S = K Qᵀ (column-major) and Oᵀ = Vᵀ Pᵀ.
    std::vector<const void*> a_qk(count), b_qk(count), a_pv(count), b_pv(count);
    std::vector<void*> c_qk(count), c_pv(count);
    for (int64_t n = 0; n < count; ++n) {
      const int64_t pair = first + n;
      const int64_t w = pair / s.heads, h = pair % s.heads, kv = h / group;
      float* score = scores.data() + n * score_floats;
      a_qk[n] = k + w * s.seq_len * ldk + kv * s.qk_dim;
      b_qk[n] = q + w * s.seq_len * ldq + h * s.qk_dim;
      c_qk[n] = score;
      a_pv[n] = v + w * s.seq_len * ldv + kv * s.v_dim;
      b_pv[n] = score;
      c_pv[n] = out + w * s.seq_len * ldo + h * s.v_dim;
    }
    const auto d_a_qk = to_device(a_qk, stream), d_b_qk = to_device(b_qk, stream);
    const auto d_a_pv = to_device(a_pv, stream), d_b_pv = to_device(b_pv, stream);
    const auto d_c_qk = to_device(c_qk, stream), d_c_pv = to_device(c_pv, stream);
    const int batch = checked_int(count, "pairs per chunk");

    // Row-major S[i][j] = q_i . k_j is the column-major seq x seq matrix K Qᵀ: A = K (transposed view of
    // the column-major qk x seq block), B = Qᵀ (the column-major qk x seq block as it is).
    const float alpha = s.scale, zero = 0.0f, one = 1.0f;
    MOQA_CUBLAS_CHECK(cublasGemmBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, seq, seq, qk, &alpha, d_a_qk.data(),
                                          CUDA_R_32F, static_cast<int>(ldk), d_b_qk.data(), CUDA_R_32F,
                                          static_cast<int>(ldq), &zero, d_c_qk.data(), CUDA_R_32F, seq, batch,
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    masked_softmax_kernel<<<exact_grid(count * s.seq_len, "attention softmax"), reduction_threads(s.seq_len), 0,
                            stream>>>(scores.data(), s.seq_len, s.window);
    MOQA_CUDA_CHECK_LAUNCH("masked_softmax_kernel");
    // Row-major O = P V is the column-major v_dim x seq matrix Vᵀ Pᵀ: both operands as they are.
    MOQA_CUBLAS_CHECK(cublasGemmBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, vd, seq, seq, &one, d_a_pv.data(), CUDA_R_32F,
                                          static_cast<int>(ldv), d_b_pv.data(), CUDA_R_32F, seq, &zero, d_c_pv.data(),
                                          CUDA_R_32F, static_cast<int>(ldo), batch, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace moqa::cuda
