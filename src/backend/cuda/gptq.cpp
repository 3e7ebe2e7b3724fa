#include "backend/cuda/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/gptq.cuh"

namespace moqa::cuda {
namespace {

// quant::quantize_gptq's block size rule (src/quant/gptq.cpp, effective_block_size): with dynamic groups a
// group must lie inside one block or start at a block boundary. Must stay identical to it.
int64_t effective_block_size(int64_t requested, int64_t group_size, int64_t cols, bool dynamic_groups) {
  int64_t block = std::min(requested, cols);
  if (!dynamic_groups || group_size >= cols) return block;
  if (group_size <= block) return block / group_size * group_size;
  while (group_size % block != 0) --block;
  return block;
}

}  // namespace

quant::GptqResult quantize_gptq(backend::CudaBackend& backend, const Tensor& weight, quant::Hessian h,
                                const quant::QuantSpec& spec, const quant::GptqOptions& options,
                                std::string_view matrix) {
  quant::check_weight_matrix(weight, matrix);
  const int64_t rows = weight.dim(0);
  const int64_t cols = weight.dim(1);
  const int64_t group_size = quant::effective_group_size(spec, cols, matrix);
  MOQA_CHECK(h.cols == cols && static_cast<int64_t>(h.values.size()) == cols * cols, matrix, ": Hessian is ", h.cols,
             "x", h.cols, " (", h.values.size(), " values) but the weight ", to_string(weight.shape), " has ", cols,
             " input columns");
  MOQA_CHECK(std::isfinite(options.damp_fraction) && options.damp_fraction >= 0.0, matrix,
             ": GPTQ damp_fraction must be a finite value >= 0, got ", options.damp_fraction);
  MOQA_CHECK(options.block_size >= 1, matrix, ": GPTQ block_size must be >= 1, got ", options.block_size);
  for (size_t i = 0; i < h.values.size(); ++i) {
    MOQA_CHECK(std::isfinite(h.values[i]), matrix, ": Hessian entry (", i / static_cast<size_t>(cols), ", ",
               i % static_cast<size_t>(cols), ") is ", h.values[i], ", expected a finite value");
  }

  quant::GptqResult result;
  // Steps 1-3 on the host (O(cols²) at most): the original diagonal, damping, order, dead columns.
  std::vector<double> diag(static_cast<size_t>(cols));
  double diag_sum = 0.0;
  for (int64_t i = 0; i < cols; ++i) {
    diag[static_cast<size_t>(i)] = h.values[static_cast<size_t>(i * cols + i)];
    MOQA_CHECK(diag[static_cast<size_t>(i)] >= 0.0, matrix, ": Hessian diagonal entry ", i, " is ",
               diag[static_cast<size_t>(i)], ", expected >= 0 (H = X^T X is positive semi-definite)");
    diag_sum += diag[static_cast<size_t>(i)];
  }
  result.damping = options.damp_fraction * diag_sum / static_cast<double>(cols);
  std::vector<int32_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (options.act_order) perm = quant::act_order_permutation(h);
  std::vector<uint8_t> dead(static_cast<size_t>(cols), 0);
  for (int64_t i = 0; i < cols; ++i) {
    if (diag[static_cast<size_t>(i)] != 0.0) continue;
    ++result.dead_columns;
    dead[static_cast<size_t>(i)] = 1;
    for (int64_t j = 0; j < cols; ++j) {
      h.values[static_cast<size_t>(i * cols + j)] = 0.0;
      h.values[static_cast<size_t>(j * cols + i)] = 0.0;
    }
    h.values[static_cast<size_t>(i * cols + i)] = 1.0;
  }
  // The CPU adds the damping after permuting; a symmetric permutation maps the diagonal onto itself, so
  // adding it first gives the same values.
  for (int64_t i = 0; i < cols; ++i) h.values[static_cast<size_t>(i * cols + i)] += result.damping;

  Context& ctx = *backend.context();
  ctx.activate();
  const cudaStream_t stream = ctx.stream_handle();
  const auto d_perm = to_device(perm, stream);

  // Step 4.
  DeviceArray<float> u(static_cast<size_t>(cols * cols), stream);
  {
    DeviceArray<double> d_h = to_device(h.values, stream);
    h.values = {};
    DeviceArray<double> permuted;
    double* factor_input = d_h.data();
    if (options.act_order) {
      permuted = DeviceArray<double>(static_cast<size_t>(cols * cols), stream);
      permute_symmetric(d_h.data(), cols, d_perm.data(), permuted.data(), stream);
      factor_input = permuted.data();
    }
    const int64_t info = inverse_cholesky_upper(ctx.solver.get(), ctx.blas.get(), factor_input, cols, u.data(), stream);
    MOQA_CHECK(info == 0, matrix, ": damped Hessian is not positive definite (Cholesky failed at column ", cols - info,
               ", cuSOLVER info ", info, "); increase the GPTQ damping");
  }

  // Step 1 on W, grids fitted up front (per-channel, static groups), the working copy in processing order.
  const int64_t groups = cols / group_size;
  const bool per_channel = groups == 1;
  const bool dynamic_groups = !per_channel && !options.static_groups;
  DeviceArray<float> scales(static_cast<size_t>(rows * groups), stream);
  DeviceArray<int32_t> zeros(static_cast<size_t>(rows * groups), stream);
  DeviceArray<float> work(static_cast<size_t>(rows * cols), stream);
  {
    DeviceArray<float> source = to_device(weight.data, stream);
    const auto d_dead = to_device(dead, stream);
    zero_columns(source.data(), rows, cols, d_dead.data(), stream);
    if (!dynamic_groups) {
      fit_grids(source.data(), rows, cols, group_size, spec.bits, spec.symmetric, scales.data(), zeros.data(), stream);
    }
    gather_columns(source.data(), rows, cols, d_perm.data(), work.data(), stream);
  }

  // Steps 5-6.
  GptqColumnsParams params;
  params.rows = rows;
  params.cols = cols;
  params.group_size = group_size;
  params.block = effective_block_size(options.block_size, group_size, cols, dynamic_groups);
  params.bits = spec.bits;
  params.symmetric = spec.symmetric;
  params.dynamic_groups = dynamic_groups;
  params.static_order_groups = !dynamic_groups && !per_channel;
  MOQA_CHECK(params.block <= kMaxGptqBlock, matrix, ": GPTQ block of ", params.block,
             " columns; the CUDA implementation supports at most ", kMaxGptqBlock, " (lower block_size)");
  DeviceArray<uint8_t> codes(static_cast<size_t>(rows * cols), stream);
  DeviceArray<double> row_loss(static_cast<size_t>(rows), stream);
  MOQA_CUDA_CHECK(cudaMemsetAsync(row_loss.data(), 0, row_loss.size() * sizeof(double), stream));
  gptq_quantize_columns(ctx.blas.get(), work.data(), u.data(), d_perm.data(), params, scales.data(), zeros.data(),
                        codes.data(), row_loss.data(), stream);

  const std::vector<uint8_t> processing_codes = to_host(codes.data(), codes.size(), stream);
  const std::vector<int32_t> host_zeros = to_host(zeros.data(), zeros.size(), stream);
  const std::vector<double> host_loss = to_host(row_loss.data(), row_loss.size(), stream);
  quant::QuantizedMatrix& q = result.matrix;
  q.rows = rows;
  q.cols = cols;
  q.bits = spec.bits;
  q.group_size = group_size;
  q.symmetric = spec.symmetric;
  q.scales = to_host(scales.data(), scales.size(), stream);
  q.zeros.assign(host_zeros.begin(), host_zeros.end());
  for (const double loss : host_loss) result.loss += loss;
  std::vector<uint8_t> ordered(processing_codes.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      ordered[static_cast<size_t>(r * cols + perm[static_cast<size_t>(j)])] =
          processing_codes[static_cast<size_t>(r * cols + j)];
    }
  }
  quant::set_codes(q, ordered);
  if (dynamic_groups && options.act_order) {
    q.g_idx.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
      q.g_idx[static_cast<size_t>(perm[static_cast<size_t>(j)])] = static_cast<int32_t>(j / group_size);
    }
  }
  return result;
}

}  // namespace moqa::cuda
