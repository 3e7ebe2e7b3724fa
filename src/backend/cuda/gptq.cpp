#include "backend/cuda/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/gptq.cuh"

namespace moqa::cuda {

quant::GptqResult quantize_gptq(backend::CudaBackend& backend, const Tensor& weight, quant::Hessian h,
                                const quant::QuantSpec& spec, const quant::GptqOptions& options,
                                std::string_view matrix, const quant::GptqExact& exact) {
  quant::GptqPreparation prep = quant::prepare_gptq(weight, std::move(h), spec, options, matrix, exact);
  const int64_t rows = weight.dim(0);
  const int64_t cols = weight.dim(1);
  const int64_t group_size = prep.group_size;
  const std::vector<int32_t>& perm = prep.perm;
  const std::vector<uint8_t>& dead = prep.dead;
  quant::GptqResult result;
  result.damping = prep.damping;
  result.dead_columns = prep.dead_columns;

  Context& ctx = *backend.context();
  ctx.activate();
  const cudaStream_t stream = ctx.stream_handle();
  const auto d_perm = to_device(perm, stream);

  // Step 4.
  DeviceArray<float> u(static_cast<size_t>(cols * cols), stream);
  {
    DeviceArray<double> d_h = to_device(prep.damped_hessian, stream);
    prep.damped_hessian = {};
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

  // Steps 0-1 on W, grids fitted up front (per-channel, static groups), the working copy in processing order.
  const int64_t groups = cols / group_size;
  const bool dynamic_groups = prep.dynamic_groups;
  DeviceArray<float> scales(static_cast<size_t>(rows * groups), stream);
  DeviceArray<int32_t> zeros(static_cast<size_t>(rows * groups), stream);
  DeviceArray<float> work(static_cast<size_t>(rows * cols), stream);
  {
    DeviceArray<float> source = to_device(weight.data, stream);
    const auto fit_up_front = [&] {
      fit_grids(source.data(), rows, cols, group_size, spec.bits, spec.symmetric, prep.rule, spec.scale_dtype,
                scales.data(), zeros.data(), stream);
    };
    if (prep.per_channel_before_dead_fix) fit_up_front();
    const auto d_dead = to_device(dead, stream);
    zero_columns(source.data(), rows, cols, d_dead.data(), stream);
    if (!dynamic_groups && !prep.per_channel_before_dead_fix) fit_up_front();
    gather_columns(source.data(), rows, cols, d_perm.data(), work.data(), stream);
  }

  // Steps 5-6.
  GptqColumnsParams params;
  params.rows = rows;
  params.cols = cols;
  params.group_size = group_size;
  params.block = prep.block_size;
  params.bits = spec.bits;
  params.symmetric = spec.symmetric;
  params.scale_dtype = spec.scale_dtype;
  params.dynamic_groups = dynamic_groups;
  params.static_order_groups = !dynamic_groups && groups > 1;
  params.groups_on_block_start = prep.groups_on_block_start;
  params.rule = prep.rule;
  const auto d_exact_positions = to_device(prep.exact_positions, stream);
  const auto d_exact_rows = to_device(prep.exact_rows, stream);
  if (!prep.exact_positions.empty()) params.exact_positions = d_exact_positions.data();
  if (!prep.exact_rows.empty()) params.exact_rows = d_exact_rows.data();
  MOQA_CHECK(params.block <= kMaxGptqBlock, matrix, ": GPTQ block of ", params.block,
             " columns; the CUDA implementation supports at most ", kMaxGptqBlock, " (lower block_size)");
  DeviceArray<uint8_t> codes(static_cast<size_t>(rows * cols), stream);
  DeviceArray<double> row_loss(static_cast<size_t>(rows), stream);
  MOQA_CUDA_CHECK(cudaMemsetAsync(row_loss.data(), 0, row_loss.size() * sizeof(double), stream));
  gptq_quantize_columns(ctx.blas.get(), work.data(), u.data(), d_perm.data(), params, scales.data(), zeros.data(),
                        codes.data(), row_loss.data(), stream);

  const std::vector<uint8_t> processing_codes = to_host(codes.data(), codes.size(), stream);
  if (!exact.columns.empty()) {
    result.exact_column_values =
        quant::exact_column_values(to_host(work.data(), work.size(), stream), rows, cols, perm, exact);
  }
  const std::vector<int32_t> host_zeros = to_host(zeros.data(), zeros.size(), stream);
  const std::vector<double> host_loss = to_host(row_loss.data(), row_loss.size(), stream);
  quant::QuantizedMatrix& q = result.matrix;
  q = quant::quantized_matrix_header(rows, cols, group_size, spec);
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
