#pragma once
// GPTQ (Frantar et al., 2022): quantize the input columns of W one at a time and, after each, spread the
// rounding error over the not-yet-quantized columns so as to minimise ||(W - Q) X||^2 for the calibration
// inputs X, as summarised by the Hessian H (hessian.h).
//
// Two variants (GptqOptions::variant), the same algorithm with different details:
//  - reference (the default): the published implementation, IST-DASLab/gptq gptq.py `fasterquant` with
//    quant.py `Quantizer(perchannel=True, mse=False)`, step by step as listed below. The golden test
//    (tests/quant/gptq_golden_test.cpp) runs the reference's own outputs (../shared/assets/goldens).
//  - updated_groups: moqa's earlier variant, kept for comparison (docs/QUANTIZATION.md has the measured
//    differences): dynamic groups fitted on fully updated weights, the moqa grid rule (grid_arithmetic.h),
//    damping and act-order from the diagonal before the dead-column fix.
//
// The steps, in order (this is the reference the CUDA backend reproduces); [R] marks reference-only
// details, [U] the updated_groups ones:
//  0. [R] Per-channel grids (no groups) are fitted on each row of W as given, before step 1 (the reference
//     fits its quantizer before looking at H; a dead column's weights still count in the row's range).
//  1. Dead columns: H[i][i] == 0 means input i was always 0. Its row/column of H is cleared, H[i][i] = 1,
//     and W[:, i] = 0 (0 is exactly on every grid, so such a column contributes no error). (The reference
//     sets only H[i][i] = 1; for a Hessian of real inputs the rest of a zero-diagonal row is 0 anyway.)
//  2. Damping: lambda = damp_fraction * mean(diag H), added to every diagonal entry. [R] the mean of the
//     diagonal after step 1 (a dead column counts as 1); [U] of the original diagonal (dead counts as 0).
//  3. Processing order: input order, or with act_order the columns by descending diag H (a stable sort:
//     ties keep input order). [R] the diagonal after step 1, so a dead column sits where 1 sorts (not
//     necessarily last); [U] the original diagonal (dead columns last). W's columns and H's rows/columns are
//     permuted accordingly.
//  4. U = the upper Cholesky factor of (H + lambda I)^-1 = U^T U, computed in double
//     (inverse_cholesky_upper) and then rounded to float32. (The reference works in float32 throughout;
//     on the goldens the difference changes no more than a few values in a thousand, see the golden test.)
//  5. Column j of each row (float32): q = round onto the column's grid; err = (w_j - deq(q)) / U[j][j];
//     w_k -= err * U[j][k] for every later column k. Columns are processed in blocks of block_size: the
//     update inside a block is applied immediately, the update of all later columns once per block as
//     one matrix product (the "lazy batch" form).
//  6. Grids (grid_arithmetic.h; [R] GridRule::gptq_reference with round-half-to-even, [U] GridRule::moqa),
//     per row and group:
//     - per-channel (one group per row): [R] step 0; [U] fitted on the whole row of step 1's W.
//     - static_groups: groups are consecutive columns in input order, fitted on step 1's W before any
//       update; the stored format needs no g_idx.
//     - otherwise (dynamic groups, GPTQ's default): a group is group_size consecutive columns in
//       processing order, fitted when its first column is reached. With act_order the groups are then not
//       consecutive input columns and g_idx records the group of each input column:
//       g_idx[perm[j]] = j / group_size.
//       [R] fitted on the weights as they were at the start of the current block (the lazy batch has
//       applied every earlier block's error, but not the errors of this block's earlier columns), block
//       size as given.
//       [U] fitted on the current, fully updated weights; the block size is reduced to a multiple of
//       group_size (or a divisor of it when group_size > block_size) so that a group's weights are always
//       fully updated when it is fitted.
// Everything is deterministic: same inputs give the same bytes for the same BLAS build and CPU. OpenBLAS
// takes a different path with one thread than with several (2, 3, 4, 8, 16 threads agree with each other
// but not with 1), so runs meant to match bit for bit must not mix OPENBLAS_NUM_THREADS=1 with more.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "quant/format.h"
#include "quant/gptq_variant.h"
#include "quant/grid_arithmetic.h"
#include "quant/hessian.h"

namespace moqa::quant {

struct GptqOptions {
  double damp_fraction = 0.01;  // lambda = damp_fraction * mean(diag H); AutoGPTQ calls it damp_percent
  int64_t block_size = 128;     // columns per lazy-batch block
  bool act_order = false;       // process columns by descending diag H
  bool static_groups = false;   // fit group grids up front on input-order groups (see step 6)
  GptqVariant variant = GptqVariant::reference;
};

// Entries GPTQ keeps exact: the full-precision channel cache (channel_cache.h), served instead of the codes.
// At an exact entry q = w and err = 0 (as SpQR does for its outliers): no rounding error is spread from it,
// while an exact column still absorbs the updates of the columns processed before it, so its served value is
// its final, error-updated weight (GptqResult::exact_column_values), not the original one. An exact row
// receives no update at all (GPTQ's updates stay within a row), so it keeps its original weights. Exact
// entries still get codes (rounded onto their group's grid, which they help fit: the stored baseline stays a
// complete quantized matrix), which a reader of the cache ignores.
struct GptqExact {
  std::vector<int64_t> columns;  // input columns, strictly ascending
  std::vector<int64_t> rows;     // output rows, strictly ascending
  bool empty() const { return columns.empty() && rows.empty(); }
};

struct GptqResult {
  QuantizedMatrix matrix;
  // [rows, exact.columns.size()] row-major: the final weights of the exact columns (an exact row's entries
  // there are its original weights; a dead column's are 0).
  std::vector<float> exact_column_values;
  // sum of err^2 over all steps. Equals trace((W0 - Q)(H' + lambda I)(W0 - Q)^T), with W0 = W after
  // step 1 and H' = H after step 1: GPTQ's own measure of the error it left (a check of the algorithm).
  double loss = 0.0;
  double damping = 0.0;         // lambda
  int64_t dead_columns = 0;
};

// weight: [out_features, in_features]; h: the normalised Hessian of the layer's inputs (h.cols ==
// in_features), taken by value because it is modified in place (std::move it in when it is no longer
// needed). `matrix` names the tensor in error messages.
GptqResult quantize_gptq(const Tensor& weight, Hessian h, const QuantSpec& spec, const GptqOptions& options,
                         std::string_view matrix, const GptqExact& exact = {});

// Validation, steps 1-3 of quantize_gptq and the variant's choices, shared by every implementation (CPU
// here, CUDA in src/backend/cuda): what GPTQ does before the Cholesky factor.
struct GptqPreparation {
  int64_t group_size = 0;            // effective_group_size(spec, cols)
  bool dynamic_groups = false;       // groups, fitted during the column loop (not per-channel, not static)
  int64_t block_size = 0;            // effective_block_size for the variant
  GridRule rule = GridRule::moqa;    // step 6's grid rule
  bool per_channel_before_dead_fix = false;  // step 0: per-channel grids fitted on W as given
  bool groups_on_block_start = false;        // dynamic groups fitted on the block-start weights
  double damping = 0.0;              // lambda
  std::vector<int32_t> perm;         // processing position -> input column
  std::vector<uint8_t> dead;         // [cols]: 1 where H[i][i] == 0
  std::vector<uint8_t> exact_positions;  // [cols] in PROCESSING order: 1 for an exact column; empty if none
  std::vector<uint8_t> exact_rows;       // [rows]: 1 for an exact row; empty if none
  int64_t dead_columns = 0;
  // H after step 1 with the damping added to its diagonal, in INPUT order (a symmetric permutation maps
  // the diagonal onto itself, so damping before or after permuting gives the same values).
  std::vector<double> damped_hessian;
};
// Checks weight, Hessian and options (errors name `matrix`) and performs steps 1-3 on H.
GptqPreparation prepare_gptq(const Tensor& weight, Hessian h, const QuantSpec& spec, const GptqOptions& options,
                             std::string_view matrix, const GptqExact& exact = {});

// The exact columns' final weights out of a processing-order working copy `work` [rows, cols]
// (GptqResult::exact_column_values).
std::vector<float> exact_column_values(std::span<const float> work, int64_t rows, int64_t cols,
                                       const std::vector<int32_t>& perm, const GptqExact& exact);

// Step 6's block size: with dynamic groups a group must be fitted on fully updated weights, i.e. lie
// inside one block or start at a block boundary.
int64_t effective_block_size(int64_t requested, int64_t group_size, int64_t cols, bool dynamic_groups);

// Step 4 on its own: for a symmetric positive definite [n, n] matrix (row-major, both triangles), the
// upper-triangular U (row-major, strict lower part zero) with matrix^-1 = U^T U. Throws moqa::Error naming
// `matrix` when it is not positive definite.
std::vector<double> inverse_cholesky_upper(std::vector<double> values, int64_t n, std::string_view matrix);

// Step 3's order for act_order: column indices by descending diagonal, ties in index order. (The reference
// uses torch.argsort, which does not promise an order for ties; ties between live columns need equal
// diagonal entries, and dead columns all hold 0, so their order changes no dequantized value.)
std::vector<int32_t> act_order_permutation(const Hessian& h);

}  // namespace moqa::quant
