#pragma once
// The device steps of GPTQ (quant::quantize_gptq, src/quant/gptq.h, steps 4-6): the inverse Cholesky factor
// with cuSOLVER/cuBLAS in float64, and the column-by-column quantization with error feedback in blocks
// (in-block updates by a kernel, the lazy update of later columns by one cuBLAS SGEMM per block). Steps 1-3
// (dead columns, damping, act-order permutation) are cheap host work done by the caller
// (src/backend/cuda/gptq.cpp), which also packs the result.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstdint>

#include "quant/grid_arithmetic.h"
#include "quant/scale_dtype.h"

namespace moqa::cuda {

// Step 4. h: symmetric positive definite [n, n] float64 (both triangles; destroyed). Writes u [n, n] row-major
// float32, upper triangular (strict lower part 0) with h^-1 = Uᵀ U. Returns 0, or cuSOLVER's info (> 0) when
// the Cholesky factorisation fails; the failing column is then n - info, as on the CPU. Synchronises.
int64_t inverse_cholesky_upper(cusolverDnHandle_t solver, cublasHandle_t blas, double* h, int64_t n, float* u,
                               cudaStream_t stream);

// out[i, j] = h[perm[i], perm[j]] for [n, n] float64 matrices (step 3's reordering of H).
void permute_symmetric(const double* h, int64_t n, const int32_t* perm, double* out, cudaStream_t stream);

// w [rows, cols] in place: columns with dead[c] != 0 become 0 (step 1).
void zero_columns(float* w, int64_t rows, int64_t cols, const uint8_t* dead, cudaStream_t stream);

// Fits one grid per (row, group of group_size consecutive columns) of w [rows, cols] by `rule`:
// scales / zeros [rows, cols / group_size].
// Each scale is stored_scale(scale, scale_dtype) (quant/scale_dtype.h), as on the CPU.
void fit_grids(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits, bool symmetric,
               quant::GridRule rule, quant::ScaleDtype scale_dtype, float* scales, int32_t* zeros,
               cudaStream_t stream);

// work[r, j] = w[r, perm[j]].
void gather_columns(const float* w, int64_t rows, int64_t cols, const int32_t* perm, float* work, cudaStream_t stream);

struct GptqColumnsParams {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;  // effective (cols when per-channel)
  int64_t block = 0;       // columns per lazy-batch block, at most kMaxGptqBlock
  int bits = 4;
  bool symmetric = false;
  bool dynamic_groups = false;       // fit each group when its first column is reached (else grids are given)
  bool static_order_groups = false;  // grids given per input-order group: column j uses perm[j] / group_size
  bool groups_on_block_start = false;  // dynamic groups fitted on the block-start weights (GPTQ's reference)
  // Device masks of quant::GptqExact, or null: [cols] in processing order, [rows]. An exact column's final
  // value is left in `work`.
  const uint8_t* exact_positions = nullptr;
  const uint8_t* exact_rows = nullptr;
  quant::GridRule rule = quant::GridRule::moqa;
  quant::ScaleDtype scale_dtype = quant::ScaleDtype::f32;  // dynamic groups' scales as stored
};
constexpr int64_t kMaxGptqBlock = 1024;

// Steps 5-6 over all columns of work [rows, cols] (processing order, updated in place). u from
// inverse_cholesky_upper; perm [cols] (processing position -> input column). scales / zeros [rows, groups]
// hold the grids (given, or written as dynamic groups are fitted); codes [rows, cols] receive the codes in
// processing order; row_loss [rows] receives each row's sum of err² (added to). `blas` bound to `stream`.
void gptq_quantize_columns(cublasHandle_t blas, float* work, const float* u, const int32_t* perm,
                           const GptqColumnsParams& params, float* scales, int32_t* zeros, uint8_t* codes,
                           double* row_loss, cudaStream_t stream);

}  // namespace moqa::cuda
