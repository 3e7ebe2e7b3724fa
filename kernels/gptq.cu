#include <algorithm>

#include "kernels/check.cuh"
#include "kernels/device_memory.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/gptq.cuh"
#include "quant/grid_arithmetic.h"

namespace moqa::cuda {
namespace {

using quant::GridRule;
using quant::GroupGrid;

constexpr int kRowsPerBlock = 4;  // one warp per weight row

// a -> J a J for a flat [n, n] buffer (J reverses the order): element i swaps with element n² - 1 - i.
__global__ void reverse_kernel(double* a, int64_t count) {
  for (int64_t i = global_thread(); i < count / 2; i += grid_threads()) {
    const double t = a[i];
    a[i] = a[count - 1 - i];
    a[count - 1 - i] = t;
  }
}

__global__ void identity_kernel(double* a, int64_t n) {
  for (int64_t i = global_thread(); i < n * n; i += grid_threads()) a[i] = (i / n == i % n) ? 1.0 : 0.0;
}

// Column-major upper inverse -> row-major float32 U with the strict lower part cleared.
__global__ void upper_to_row_major_kernel(const double* cm, int64_t n, float* u) {
  for (int64_t idx = global_thread(); idx < n * n; idx += grid_threads()) {
    const int64_t j = idx / n, k = idx % n;
    u[idx] = k >= j ? static_cast<float>(cm[k * n + j]) : 0.0f;
  }
}

__global__ void permute_symmetric_kernel(const double* h, int64_t n, const int32_t* perm, double* out) {
  for (int64_t idx = global_thread(); idx < n * n; idx += grid_threads()) {
    out[idx] = h[static_cast<int64_t>(perm[idx / n]) * n + perm[idx % n]];
  }
}

__global__ void zero_columns_kernel(float* w, int64_t rows, int64_t cols, const uint8_t* dead) {
  for (int64_t idx = global_thread(); idx < rows * cols; idx += grid_threads()) {
    if (dead[idx % cols]) w[idx] = 0.0f;
  }
}

// One thread per (row, group), the group's weights in order (min/max do not depend on it anyway).
__global__ void fit_grids_kernel(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits,
                                 bool symmetric, GridRule rule, quant::ScaleDtype scale_dtype, float* scales,
                                 int32_t* zeros) {
  const int64_t groups = cols / group_size;
  for (int64_t cell = global_thread(); cell < rows * groups; cell += grid_threads()) {
    const float* v = w + (cell / groups) * cols + (cell % groups) * group_size;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t c = 0; c < group_size; ++c) {
      lo = fminf(lo, v[c]);
      hi = fmaxf(hi, v[c]);
    }
    GroupGrid grid = quant::grid_from_range(lo, hi, bits, symmetric, rule);
    grid.scale = quant::stored_scale(grid.scale, scale_dtype);
    scales[cell] = grid.scale;
    zeros[cell] = grid.zero;
  }
}

__global__ void gather_columns_kernel(const float* w, int64_t rows, int64_t cols, const int32_t* perm, float* work) {
  for (int64_t idx = global_thread(); idx < rows * cols; idx += grid_threads()) {
    const int64_t r = idx / cols, j = idx % cols;
    work[idx] = w[r * cols + perm[j]];
  }
}

// Columns [b0, b1) of every row: one warp per row keeps the row's block in shared memory. For each column
// j in order, every lane computes the same code and error (the column value is a shared-memory broadcast);
// lane 0 records them; the lanes then update the block's later columns in parallel. The warp's lanes
// compute identical values, so lane 0's writes equal what any lane would write.
__global__ void gptq_block_kernel(float* work, const float* u, const int32_t* perm, GptqColumnsParams p, int64_t b0,
                                  int64_t b1, float* scales, int32_t* zeros, uint8_t* codes, float* errors,
                                  double* row_loss) {
  extern __shared__ float block_rows[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + warp;
  if (r >= p.rows) return;  // uniform per warp; the kernel has no block-wide barrier
  const int64_t width = b1 - b0;
  const int64_t groups = p.cols / p.group_size;
  float* w = block_rows + warp * width;
  const float* row = work + r * p.cols;
  for (int64_t k = lane; k < width; k += 32) w[k] = row[b0 + k];
  __syncwarp();

  GroupGrid grid;
  double loss = 0.0;
  const bool exact_row = p.exact_rows != nullptr && p.exact_rows[r];
  for (int64_t j = b0; j < b1; ++j) {
    const int64_t group = p.dynamic_groups        ? j / p.group_size
                          : p.static_order_groups ? perm[j] / p.group_size
                                                  : j / p.group_size;
    const int64_t cell = r * groups + group;
    if (p.dynamic_groups && j % p.group_size == 0) {
      // The group's current weights: in shared memory inside this block, in `work` beyond it (those are
      // already fully updated by earlier blocks' lazy updates). With groups_on_block_start all from `work`,
      // which holds this block's columns as they were at its start (in-block updates stay in shared memory).
      float lo = 0.0f, hi = 0.0f;
      for (int64_t k = j + lane; k < j + p.group_size; k += 32) {
        const float v = k < b1 && !p.groups_on_block_start ? w[k - b0] : row[k];
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
      }
      grid = quant::grid_from_range(warp_min(lo), warp_max(hi), p.bits, p.symmetric, p.rule);
      grid.scale = quant::stored_scale(grid.scale, p.scale_dtype);
      if (lane == 0) {
        scales[cell] = grid.scale;
        zeros[cell] = grid.zero;
      }
    } else if (!p.dynamic_groups || j == b0) {
      grid = GroupGrid{scales[cell], zeros[cell]};
    }
    const float wj = w[j - b0];
    const uint8_t code = quant::quantize_value(wj, grid, p.bits, p.rule);
    const float* u_row = u + j * p.cols;
    // An exact entry (quant::GptqExact): q = w, err = 0. Its final value goes back to `work` for the host;
    // no later read of `work` in this block touches column j.
    const bool exact_entry = exact_row || (p.exact_positions != nullptr && p.exact_positions[j]);
    const float err = exact_entry ? 0.0f : __fsub_rn(wj, quant::dequantize_value(code, grid)) / u_row[j];
    if (lane == 0) {
      codes[r * p.cols + j] = code;
      errors[r * p.block + (j - b0)] = err;
      loss += static_cast<double>(err) * static_cast<double>(err);
      if (exact_entry) work[r * p.cols + j] = wj;
    }
    if (!exact_entry) {
      for (int64_t k = j + 1 + lane; k < b1; k += 32) w[k - b0] = __fsub_rn(w[k - b0], __fmul_rn(err, u_row[k]));
    }
    __syncwarp();
  }
  if (lane == 0) row_loss[r] += loss;
}

}  // namespace

int64_t inverse_cholesky_upper(cusolverDnHandle_t solver, cublasHandle_t blas, double* h, int64_t n, float* u,
                               cudaStream_t stream) {
  MOQA_CHECK(n > 0 && n <= 46340, "cuda GPTQ: a ", n, "x", n, " Hessian is outside the supported 1 .. 46340");
  const int dim = static_cast<int>(n);
  // As on the CPU (quant::inverse_cholesky_upper): factor J H J = L Lᵀ; V = J L J is upper with H = V Vᵀ, so
  // H^-1 = Uᵀ U with U = V^-1. The row-major buffer read column-major is the same symmetric matrix.
  reverse_kernel<<<grid_for(n * n / 2 + 1), kThreads, 0, stream>>>(h, n * n);
  MOQA_CUDA_CHECK_LAUNCH("reverse_kernel");
  int work_size = 0;
  MOQA_CUSOLVER_CHECK(cusolverDnDpotrf_bufferSize(solver, CUBLAS_FILL_MODE_LOWER, dim, h, dim, &work_size));
  DeviceArray<double> work(static_cast<size_t>(std::max(work_size, 1)), stream);
  DeviceArray<int> info(1, stream);
  MOQA_CUSOLVER_CHECK(
      cusolverDnDpotrf(solver, CUBLAS_FILL_MODE_LOWER, dim, h, dim, work.data(), work_size, info.data()));
  const int status = to_host(info.data(), 1, stream)[0];
  MOQA_CHECK(status >= 0, "cuda GPTQ: cusolverDnDpotrf rejected argument ", -status);
  if (status > 0) return status;
  reverse_kernel<<<grid_for(n * n / 2 + 1), kThreads, 0, stream>>>(h, n * n);
  MOQA_CUDA_CHECK_LAUNCH("reverse_kernel");
  // U = V^-1 by solving V X = I (the inverse of an upper triangular matrix is upper triangular; the solve
  // leaves exact zeros below the diagonal).
  DeviceArray<double> inverse(static_cast<size_t>(n * n), stream);
  identity_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(inverse.data(), n);
  MOQA_CUDA_CHECK_LAUNCH("identity_kernel");
  const double one = 1.0;
  MOQA_CUBLAS_CHECK(cublasDtrsm(blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, dim,
                                dim, &one, h, dim, inverse.data(), dim));
  upper_to_row_major_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(inverse.data(), n, u);
  MOQA_CUDA_CHECK_LAUNCH("upper_to_row_major_kernel");
  return 0;
}

void permute_symmetric(const double* h, int64_t n, const int32_t* perm, double* out, cudaStream_t stream) {
  if (n == 0) return;
  permute_symmetric_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(h, n, perm, out);
  MOQA_CUDA_CHECK_LAUNCH("permute_symmetric_kernel");
}

void zero_columns(float* w, int64_t rows, int64_t cols, const uint8_t* dead, cudaStream_t stream) {
  if (rows * cols == 0) return;
  zero_columns_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(w, rows, cols, dead);
  MOQA_CUDA_CHECK_LAUNCH("zero_columns_kernel");
}

void fit_grids(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits, bool symmetric,
               quant::GridRule rule, quant::ScaleDtype scale_dtype, float* scales, int32_t* zeros,
               cudaStream_t stream) {
  const int64_t cells = rows * (cols / group_size);
  if (cells == 0) return;
  fit_grids_kernel<<<grid_for(cells), kThreads, 0, stream>>>(w, rows, cols, group_size, bits, symmetric, rule,
                                                             scale_dtype, scales, zeros);
  MOQA_CUDA_CHECK_LAUNCH("fit_grids_kernel");
}

void gather_columns(const float* w, int64_t rows, int64_t cols, const int32_t* perm, float* work, cudaStream_t stream) {
  if (rows * cols == 0) return;
  gather_columns_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(w, rows, cols, perm, work);
  MOQA_CUDA_CHECK_LAUNCH("gather_columns_kernel");
}

void gptq_quantize_columns(cublasHandle_t blas, float* work, const float* u, const int32_t* perm,
                           const GptqColumnsParams& p, float* scales, int32_t* zeros, uint8_t* codes, double* row_loss,
                           cudaStream_t stream) {
  MOQA_CHECK(p.block >= 1 && p.block <= kMaxGptqBlock, "cuda GPTQ: block of ", p.block, " columns, supported 1..",
             kMaxGptqBlock);
  MOQA_CHECK(p.rows <= 2147483647 && p.cols <= 2147483647, "cuda GPTQ: [", p.rows, ", ", p.cols,
             "] exceeds cuBLAS's int range");
  if (p.rows == 0 || p.cols == 0) return;
  DeviceArray<float> errors(static_cast<size_t>(p.rows * p.block), stream);
  const unsigned grid = exact_grid((p.rows + kRowsPerBlock - 1) / kRowsPerBlock, "gptq block");
  const float minus_one = -1.0f, one = 1.0f;
  for (int64_t b0 = 0; b0 < p.cols; b0 += p.block) {
    const int64_t b1 = std::min(b0 + p.block, p.cols);
    const size_t shared_bytes = static_cast<size_t>(kRowsPerBlock * (b1 - b0)) * sizeof(float);
    gptq_block_kernel<<<grid, kRowsPerBlock * 32, shared_bytes, stream>>>(work, u, perm, p, b0, b1, scales, zeros,
                                                                          codes, errors.data(), row_loss);
    MOQA_CUDA_CHECK_LAUNCH("gptq_block_kernel");
    if (b1 < p.cols) {
      // Row-major work[:, b1:] -= E[:, :b1-b0] U[b0:b1, b1:], i.e. column-major (cols-b1) x rows
      // C -= A B with A = the column-major view of U's block rows and B = Eᵀ (E row-major, leading dimension block).
      MOQA_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(p.cols - b1),
                                    static_cast<int>(p.rows), static_cast<int>(b1 - b0), &minus_one,
                                    u + b0 * p.cols + b1, static_cast<int>(p.cols), errors.data(),
                                    static_cast<int>(p.block), &one, work + b1, static_cast<int>(p.cols)));
    }
  }
}

}  // namespace moqa::cuda
