#include "quant/gptq.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "quant/uniform_grid.h"

namespace moqa::quant {
namespace {

// new[i][j] = old[perm[i]][perm[j]] for a row-major [n, n] matrix, in place: columns within each row
// first, then whole rows by following the permutation's cycles (one spare row, no second n x n copy).
void permute_symmetric(std::vector<double>& m, int64_t n, const std::vector<int32_t>& perm) {
  std::vector<double> spare(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double* row = m.data() + i * n;
    for (int64_t j = 0; j < n; ++j) spare[static_cast<size_t>(j)] = row[perm[static_cast<size_t>(j)]];
    std::copy(spare.begin(), spare.end(), row);
  }
  std::vector<bool> placed(static_cast<size_t>(n), false);
  for (int64_t start = 0; start < n; ++start) {
    if (placed[static_cast<size_t>(start)]) continue;
    std::copy_n(m.data() + start * n, n, spare.begin());
    int64_t at = start;
    while (true) {
      placed[static_cast<size_t>(at)] = true;
      const int64_t from = perm[static_cast<size_t>(at)];
      if (from == start) break;
      std::copy_n(m.data() + from * n, n, m.data() + at * n);
      at = from;
    }
    std::copy(spare.begin(), spare.end(), m.data() + at * n);
  }
}

}  // namespace

int64_t effective_block_size(int64_t requested, int64_t group_size, int64_t cols, bool dynamic_groups) {
  int64_t block = std::min(requested, cols);
  if (!dynamic_groups || group_size >= cols) return block;
  if (group_size <= block) return block / group_size * group_size;
  while (group_size % block != 0) --block;
  return block;
}

std::vector<int32_t> act_order_permutation(const Hessian& h) {
  std::vector<int32_t> perm(static_cast<size_t>(h.cols));
  std::iota(perm.begin(), perm.end(), 0);
  const auto diag = [&](int32_t i) { return h.values[static_cast<size_t>(i * h.cols + i)]; };
  std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return diag(a) > diag(b); });
  return perm;
}

std::vector<double> inverse_cholesky_upper(std::vector<double> values, int64_t n, std::string_view matrix) {
  MOQA_CHECK(n > 0 && static_cast<int64_t>(values.size()) == n * n, matrix, ": expected a ", n, "x", n,
             " matrix, got ", values.size(), " values");
  // With J the order-reversing permutation: factor J H J = L L^T (L lower); then V = J L J is upper and
  // H = V V^T, so H^-1 = V^-T V^-1 = U^T U with U = V^-1 upper. Reversing the flat buffer is exactly
  // X -> J X J, in row- or column-major alike. LAPACK runs column-major on the row-major buffer, which for a
  // symmetric matrix is the same matrix.
  const auto ln = static_cast<lapack_int>(n);
  std::reverse(values.begin(), values.end());
  lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', ln, values.data(), ln);
  MOQA_CHECK(info == 0, matrix, ": damped Hessian is not positive definite (Cholesky failed at column ",
             info > 0 ? n - info : -1, ", LAPACK info ", info, "); increase the GPTQ damping");
  std::reverse(values.begin(), values.end());  // column-major upper triangle now holds V
  info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', ln, values.data(), ln);
  MOQA_CHECK(info == 0, matrix, ": inverting the Cholesky factor of the damped Hessian failed (LAPACK info ",
             info, ")");
  // Column-major upper U sits at values[k * n + j] for j <= k; transpose in place to row-major and clear
  // what is left of the input below the diagonal.
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < k; ++j) {
      values[static_cast<size_t>(j * n + k)] = values[static_cast<size_t>(k * n + j)];
      values[static_cast<size_t>(k * n + j)] = 0.0;
    }
  }
  return values;
}

std::vector<float> exact_column_values(std::span<const float> work, int64_t rows, int64_t cols,
                                       const std::vector<int32_t>& perm, const GptqExact& exact) {
  std::vector<int64_t> position(static_cast<size_t>(cols));  // input column -> processing position
  for (int64_t j = 0; j < cols; ++j) position[static_cast<size_t>(perm[static_cast<size_t>(j)])] = j;
  const auto n = static_cast<int64_t>(exact.columns.size());
  std::vector<float> values(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      values[static_cast<size_t>(r * n + i)] =
          work[static_cast<size_t>(r * cols + position[static_cast<size_t>(exact.columns[static_cast<size_t>(i)])])];
    }
  }
  return values;
}

GptqPreparation prepare_gptq(const Tensor& weight, Hessian h, const QuantSpec& spec, const GptqOptions& options,
                             std::string_view matrix, const GptqExact& exact) {
  check_weight_matrix(weight, matrix);
  const int64_t cols = weight.dim(1);
  GptqPreparation prep;
  prep.group_size = effective_group_size(spec, cols, matrix);
  MOQA_CHECK(h.cols == cols && static_cast<int64_t>(h.values.size()) == cols * cols, matrix, ": Hessian is ",
             h.cols, "x", h.cols, " (", h.values.size(), " values) but the weight ", to_string(weight.shape), " has ",
             cols, " input columns");
  MOQA_CHECK(std::isfinite(options.damp_fraction) && options.damp_fraction >= 0.0, matrix,
             ": GPTQ damp_fraction must be a finite value >= 0, got ", options.damp_fraction);
  MOQA_CHECK(options.block_size >= 1, matrix, ": GPTQ block_size must be >= 1, got ", options.block_size);
  for (size_t i = 0; i < h.values.size(); ++i) {
    MOQA_CHECK(std::isfinite(h.values[i]), matrix, ": Hessian entry (", i / static_cast<size_t>(cols), ", ",
               i % static_cast<size_t>(cols), ") is ", h.values[i], ", expected a finite value");
  }

  const bool reference = options.variant == GptqVariant::reference;
  prep.dynamic_groups = prep.group_size < cols && !options.static_groups;
  prep.block_size = effective_block_size(options.block_size, prep.group_size, cols, prep.dynamic_groups && !reference);
  prep.rule = reference ? GridRule::gptq_reference : GridRule::moqa;
  prep.per_channel_before_dead_fix = reference && prep.group_size == cols;
  prep.groups_on_block_start = reference && prep.dynamic_groups;

  for (int64_t i = 0; i < cols; ++i) {
    const double d = h.values[static_cast<size_t>(i * cols + i)];
    MOQA_CHECK(d >= 0.0, matrix, ": Hessian diagonal entry ", i, " is ", d,
               ", expected >= 0 (H = X^T X is positive semi-definite)");
  }
  // [U] steps 2 and 3 read the original diagonal, [R] the one after step 1.
  const auto damping_of = [&](const Hessian& of) {
    double diag_sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) diag_sum += of.values[static_cast<size_t>(i * cols + i)];
    return options.damp_fraction * diag_sum / static_cast<double>(cols);
  };
  prep.perm.resize(static_cast<size_t>(cols));
  std::iota(prep.perm.begin(), prep.perm.end(), 0);
  if (!reference) {
    prep.damping = damping_of(h);
    if (options.act_order) prep.perm = act_order_permutation(h);
  }

  prep.dead.assign(static_cast<size_t>(cols), 0);  // step 1
  for (int64_t i = 0; i < cols; ++i) {
    if (h.values[static_cast<size_t>(i * cols + i)] != 0.0) continue;
    ++prep.dead_columns;
    prep.dead[static_cast<size_t>(i)] = 1;
    for (int64_t j = 0; j < cols; ++j) {
      h.values[static_cast<size_t>(i * cols + j)] = 0.0;
      h.values[static_cast<size_t>(j * cols + i)] = 0.0;
    }
    h.values[static_cast<size_t>(i * cols + i)] = 1.0;
  }
  if (reference) {
    prep.damping = damping_of(h);
    if (options.act_order) prep.perm = act_order_permutation(h);
  }
  for (int64_t i = 0; i < cols; ++i) h.values[static_cast<size_t>(i * cols + i)] += prep.damping;  // step 2

  const auto mask = [&](const std::vector<int64_t>& indices, int64_t size, const char* what) {
    std::vector<uint8_t> m(indices.empty() ? 0 : static_cast<size_t>(size), 0);
    for (size_t i = 0; i < indices.size(); ++i) {
      MOQA_CHECK(indices[i] >= 0 && indices[i] < size && (i == 0 || indices[i] > indices[i - 1]), matrix,
                 ": GPTQ exact ", what, " ", i, " is ", indices[i], ", expected strictly ascending indices in 0..",
                 size - 1);
      m[static_cast<size_t>(indices[i])] = 1;
    }
    return m;
  };
  const std::vector<uint8_t> exact_columns = mask(exact.columns, cols, "column");
  prep.exact_rows = mask(exact.rows, weight.dim(0), "row");
  if (!exact_columns.empty()) {
    prep.exact_positions.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j)
      prep.exact_positions[static_cast<size_t>(j)] = exact_columns[static_cast<size_t>(prep.perm[static_cast<size_t>(j)])];
  }
  prep.damped_hessian = std::move(h.values);
  return prep;
}

GptqResult quantize_gptq(const Tensor& weight, Hessian h, const QuantSpec& spec, const GptqOptions& options,
                         std::string_view matrix, const GptqExact& exact) {
  GptqPreparation prep = prepare_gptq(weight, std::move(h), spec, options, matrix, exact);
  const int64_t rows = weight.dim(0);
  const int64_t cols = weight.dim(1);
  const int64_t group_size = prep.group_size;
  const std::vector<int32_t>& perm = prep.perm;
  const GridRule rule = prep.rule;
  GptqResult result;
  result.damping = prep.damping;
  result.dead_columns = prep.dead_columns;

  QuantizedMatrix& q = result.matrix;
  q = quantized_matrix_header(rows, cols, group_size, spec);
  // Every grid with its scale as stored (scale_dtype.h), before any code is computed on it.
  const auto stored_grid = [&](GroupGrid grid) {
    grid.scale = stored_scale(grid.scale, spec.scale_dtype);
    return grid;
  };
  const int64_t groups = q.groups();
  q.scales.resize(static_cast<size_t>(rows * groups));
  q.zeros.resize(static_cast<size_t>(rows * groups));
  std::vector<GroupGrid> grids(static_cast<size_t>(rows * groups));
  const auto fit_up_front = [&](const std::vector<float>& from) {  // input-order groups
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        grids[static_cast<size_t>(r * groups + g)] = stored_grid(
            fit_grid(std::span<const float>(from).subspan(static_cast<size_t>(r * cols + g * group_size),
                                                          static_cast<size_t>(group_size)),
                     spec.bits, spec.symmetric, rule));
      }
    }
  };
  const bool dynamic_groups = prep.dynamic_groups;
  if (prep.per_channel_before_dead_fix) fit_up_front(weight.data);  // step 0

  std::vector<float> source(weight.data);  // W after step 1, input order
  for (int64_t i = 0; i < cols; ++i) {
    if (!prep.dead[static_cast<size_t>(i)]) continue;
    for (int64_t r = 0; r < rows; ++r) source[static_cast<size_t>(r * cols + i)] = 0.0f;
  }
  if (!dynamic_groups && !prep.per_channel_before_dead_fix) fit_up_front(source);

  // Steps 3-4.
  if (options.act_order) permute_symmetric(prep.damped_hessian, cols, perm);
  std::vector<float> u(static_cast<size_t>(cols * cols));
  {
    const std::vector<double> u_double = inverse_cholesky_upper(std::move(prep.damped_hessian), cols, matrix);
    std::transform(u_double.begin(), u_double.end(), u.begin(), [](double v) { return static_cast<float>(v); });
  }

  // The working copy in processing order.
  std::vector<float> work(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      work[static_cast<size_t>(r * cols + j)] = source[static_cast<size_t>(r * cols + perm[static_cast<size_t>(j)])];
    }
  }
  source = {};
  // Group (index into a row's grids) of processing-order column j.
  const auto group_of = [&](int64_t j) -> int64_t {
    if (groups == 1) return 0;
    return dynamic_groups ? j / group_size : perm[static_cast<size_t>(j)] / group_size;
  };

  // Steps 5-6.
  const int64_t block = prep.block_size;
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));  // processing order
  std::vector<float> errors(static_cast<size_t>(rows * block));
  std::vector<float> block_start(prep.groups_on_block_start ? static_cast<size_t>(block) : 0);
  std::vector<float> group_values(prep.groups_on_block_start ? static_cast<size_t>(group_size) : 0);
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    const int64_t b1 = std::min(b0 + block, cols);
    for (int64_t r = 0; r < rows; ++r) {
      float* w = work.data() + r * cols;
      float* err_row = errors.data() + r * block;
      GroupGrid* row_grids = grids.data() + r * groups;
      const bool exact_row = !prep.exact_rows.empty() && prep.exact_rows[static_cast<size_t>(r)];
      if (prep.groups_on_block_start) std::copy(w + b0, w + b1, block_start.begin());
      for (int64_t j = b0; j < b1; ++j) {
        if (dynamic_groups && j % group_size == 0) {
          std::span<const float> values(w + j, static_cast<size_t>(group_size));
          if (prep.groups_on_block_start) {  // this block's columns as they were at its start, later ones as they are
            for (int64_t k = j; k < j + group_size; ++k) {
              group_values[static_cast<size_t>(k - j)] = k < b1 ? block_start[static_cast<size_t>(k - b0)] : w[k];
            }
            values = group_values;
          }
          row_grids[j / group_size] = stored_grid(fit_grid(values, spec.bits, spec.symmetric, rule));
        }
        const GroupGrid grid = row_grids[group_of(j)];
        const uint8_t code = quantize_value(w[j], grid, spec.bits, rule);
        codes[static_cast<size_t>(r * cols + j)] = code;
        const float* u_row = u.data() + j * cols;
        const bool exact_entry = exact_row || (!prep.exact_positions.empty() && prep.exact_positions[static_cast<size_t>(j)]);
        const float err = exact_entry ? 0.0f : (w[j] - dequantize_value(code, grid)) / u_row[j];
        err_row[j - b0] = err;
        if (exact_entry) continue;  // q = w: w[j] stays as the exact value, nothing to spread
        result.loss += static_cast<double>(err) * static_cast<double>(err);
        for (int64_t k = j + 1; k < b1; ++k) w[k] -= err * u_row[k];
      }
    }
    if (b1 < cols) {  // work[:, b1:] -= errors[:, :b1-b0] * U[b0:b1, b1:]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols - b1),
                  static_cast<int>(b1 - b0), -1.0f, errors.data(), static_cast<int>(block), u.data() + b0 * cols + b1,
                  static_cast<int>(cols), 1.0f, work.data() + b1, static_cast<int>(cols));
    }
  }

  if (!exact.columns.empty()) result.exact_column_values = exact_column_values(work, rows, cols, perm, exact);
  for (size_t i = 0; i < grids.size(); ++i) {
    q.scales[i] = grids[i].scale;
    q.zeros[i] = static_cast<uint8_t>(grids[i].zero);
  }
  // Back to input column order.
  std::vector<uint8_t> ordered(codes.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      ordered[static_cast<size_t>(r * cols + perm[static_cast<size_t>(j)])] = codes[static_cast<size_t>(r * cols + j)];
    }
  }
  set_codes(q, ordered);
  if (dynamic_groups && options.act_order) {
    q.g_idx.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) q.g_idx[static_cast<size_t>(perm[static_cast<size_t>(j)])] = static_cast<int32_t>(j / group_size);
  }
  return result;
}

}  // namespace moqa::quant
