#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

#include "backend/checks.h"
#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/activation.cuh"
#include "kernels/attention.cuh"
#include "kernels/device_query.h"
#include "kernels/grouped_gemm.cuh"
#include "kernels/loss.cuh"
#include "kernels/norm.cuh"
#include "kernels/rope.cuh"
#include "kernels/router.cuh"
#include "kernels/rows.cuh"

namespace moqa::backend {
namespace {

using cuda::DType;
using cuda::f32;

constexpr const char* kName = "cuda backend";  // names this backend in argument errors

int blas_int(int64_t value, const char* op, const char* what) {
  MOQA_CHECK(value >= 0 && value <= INT_MAX, "cuda backend ", op, ": ", what, " = ", value,
             " exceeds cuBLAS's int range");
  return static_cast<int>(value);
}

// y [n, out] = x [n, in] · wᵀ for device pointers; w is float32 or bfloat16 (then x is rounded to bfloat16
// first, as cublasGemmEx needs both operands in one type). Accumulation is float32 either way; float32
// operands use plain float32 arithmetic (CUBLAS_COMPUTE_32F, no TF32).
void gemm_xwt(cuda::Context& ctx, const float* x, int64_t n, int64_t in, const void* w, DType w_type, int64_t out,
              float* y, const char* op) {
  if (n == 0 || out == 0) return;
  const cudaStream_t stream = ctx.stream_handle();
  if (in == 0) {
    MOQA_CUDA_CHECK(cudaMemsetAsync(y, 0, static_cast<size_t>(n * out) * sizeof(float), stream));
    return;
  }
  const int m_ = blas_int(out, op, "out_features"), n_ = blas_int(n, op, "rows"), k_ = blas_int(in, op, "in_features");
  const float one = 1.0f, zero = 0.0f;
  // Row-major y = x wᵀ is column-major yᵀ = w xᵀ: A = w (column-major in x out, transposed), B = xᵀ as it is.
  if (w_type == DType::float32) {
    MOQA_CUBLAS_CHECK(cublasGemmEx(ctx.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, m_, n_, k_, &one, w, CUDA_R_32F, k_, x,
                                   CUDA_R_32F, k_, &zero, y, CUDA_R_32F, m_, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  cuda::DeviceArray<uint16_t> x16(static_cast<size_t>(n * in), stream);
  cuda::to_bfloat16(x, n * in, x16.data(), stream);
  MOQA_CUBLAS_CHECK(cublasGemmEx(ctx.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, m_, n_, k_, &one, w, CUDA_R_16BF, k_,
                                 x16.data(), CUDA_R_16BF, k_, &zero, y, CUDA_R_32F, m_, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
}

}  // namespace

CudaBackend::CudaBackend(CudaOptions options)
    : options_(options), context_(std::make_shared<cuda::Context>(options.device, options.poison_outputs)) {
  MOQA_CHECK(options.attention_scratch_bytes > 0, "cuda backend: attention_scratch_bytes must be positive, got ",
             options.attention_scratch_bytes);
}

CudaBackend::~CudaBackend() = default;

std::string CudaBackend::describe() const {
  return cat("cuda (", context_->device_name, ", device ", context_->device, " of ", cuda::device_count(), ", compute ",
             context_->compute_major, ".", context_->compute_minor, ", ",
             options_.bf16_weights ? "bfloat16" : "float32", " weights, float32 activations)");
}

void CudaBackend::synchronize() {
  context_->activate();
  context_->stream.synchronize();
}

// ---- Transfers -------------------------------------------------------------------------------------

Array CudaBackend::upload(const Tensor& host) {
  MOQA_CHECK(host.size() == element_count(host.shape), "cuda backend upload: tensor of shape ", to_string(host.shape),
             " holds ", host.size(), " values");
  context_->activate();
  Array out = cuda::allocate(context_, host.shape, DType::float32);
  if (host.size() > 0) {
    MOQA_CUDA_CHECK(cudaMemcpyAsync(f32(out, "upload"), host.data.data(), host.data.size() * sizeof(float),
                                    cudaMemcpyHostToDevice, context_->stream_handle()));
  }
  return out;
}

Array CudaBackend::upload_weight(const Tensor& host) {
  if (!options_.bf16_weights || host.rank() < 2) return upload(host);
  const Array staged = upload(host);
  Array out = cuda::allocate(context_, host.shape, DType::bfloat16);
  cuda::to_bfloat16(f32(staged, "upload_weight"), staged.size(),
                    static_cast<uint16_t*>(cuda::storage_of(out, "upload_weight").data()), context_->stream_handle());
  return out;
}

Tensor CudaBackend::download(const Array& array) {
  const cuda::CudaStorage& storage = cuda::storage_of(array, "download");
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  const auto count = static_cast<size_t>(array.size());
  if (storage.dtype == DType::float32) {
    return Tensor(array.shape, cuda::to_host(static_cast<const float*>(storage.data()), count, stream));
  }
  const std::vector<uint16_t> bits = cuda::to_host(static_cast<const uint16_t*>(storage.data()), count, stream);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    const uint32_t widened = static_cast<uint32_t>(bits[i]) << 16;  // bfloat16 is float32's upper half
    std::memcpy(&values[i], &widened, sizeof(float));
  }
  return Tensor(array.shape, std::move(values));
}

Array CudaBackend::zeros(const Shape& shape) {
  context_->activate();
  Array out = cuda::allocate(context_, shape, DType::float32);
  if (out.size() > 0) {
    MOQA_CUDA_CHECK(cudaMemsetAsync(f32(out, "zeros"), 0, static_cast<size_t>(out.size()) * sizeof(float),
                                    context_->stream_handle()));
  }
  return out;
}

Array CudaBackend::copy(const Array& array) {
  const cuda::CudaStorage& source = cuda::storage_of(array, "copy");
  context_->activate();
  Array out = cuda::allocate(context_, array.shape, source.dtype);
  const size_t bytes = static_cast<size_t>(array.size()) * cuda::dtype_bytes(source.dtype);
  if (bytes > 0) {
    MOQA_CUDA_CHECK(cudaMemcpyAsync(cuda::storage_of(out, "copy").data(), source.data(), bytes,
                                    cudaMemcpyDeviceToDevice, context_->stream_handle()));
  }
  return out;
}

Array CudaBackend::row_slice(const Array& array, int64_t first_row, int64_t rows) {
  const cuda::CudaStorage& source = cuda::storage_of(array, "row_slice");
  MOQA_CHECK(first_row >= 0 && rows >= 0 && first_row + rows <= array.rows(), "cuda backend row_slice: rows [",
             first_row, ", ", first_row + rows, ") of an array of shape ", to_string(array.shape));
  auto storage = std::make_shared<cuda::CudaStorage>(source);
  storage->byte_offset += static_cast<size_t>(first_row * array.cols()) * cuda::dtype_bytes(source.dtype);
  Array out;
  out.shape = {rows, array.cols()};
  out.storage = std::move(storage);
  return out;
}

// ---- Operations ------------------------------------------------------------------------------------

Array CudaBackend::embedding(const Array& table, std::span<const int32_t> ids) {
  check_embedding(kName, table, ids);
  const int64_t dim = table.cols();
  const cuda::CudaStorage& source = cuda::storage_of(table, "embedding");
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  Array out = cuda::allocate(context_, {static_cast<int64_t>(ids.size()), dim}, DType::float32);
  const auto d_ids = cuda::to_device(ids.data(), ids.size(), stream);
  const auto count = static_cast<int64_t>(ids.size());
  if (source.dtype == DType::float32) {
    cuda::embedding_f32(static_cast<const float*>(source.data()), dim, d_ids.data(), count, f32(out, "embedding"),
                        stream);
  } else {
    cuda::embedding_bf16(static_cast<const uint16_t*>(source.data()), dim, d_ids.data(), count, f32(out, "embedding"),
                         stream);
  }
  return out;
}

Array CudaBackend::linear(const Array& x, const Array& weight, const Array* bias) {
  check_linear(kName, x, weight, bias);
  const int64_t out_features = weight.shape[0], in_features = weight.shape[1];
  const cuda::CudaStorage& w = cuda::storage_of(weight, "linear");
  const float* x_data = f32(x, "linear");
  const float* bias_data = bias ? f32(*bias, "linear") : nullptr;
  context_->activate();
  Array out = cuda::allocate(context_, {x.rows(), out_features}, DType::float32);
  float* y = f32(out, "linear");
  gemm_xwt(*context_, x_data, x.rows(), in_features, w.data(), w.dtype, out_features, y, "linear");
  if (bias_data) cuda::add_bias(y, x.rows(), out_features, bias_data, context_->stream_handle());
  return out;
}

Array CudaBackend::grouped_linear(const Array& x, std::span<const int64_t> group_rows, std::span<const Array> weights) {
  MOQA_CHECK(group_rows.size() == weights.size(), "cuda backend grouped_linear: ", group_rows.size(),
             " row groups but ", weights.size(), " weights");
  const int64_t total_rows = std::accumulate(group_rows.begin(), group_rows.end(), int64_t{0});
  MOQA_CHECK(total_rows == x.rows(), "cuda backend grouped_linear: groups of ", total_rows,
             " rows in total for an input of shape ", to_string(x.shape));
  const int64_t in_features = x.cols();
  int64_t out_features = -1;
  bool all_bf16 = true;
  for (size_t g = 0; g < weights.size(); ++g) {
    MOQA_CHECK(group_rows[g] >= 0, "cuda backend grouped_linear: group ", g, " has ", group_rows[g], " rows");
    const Array& w = weights[g];
    if (w.empty()) {
      MOQA_CHECK(group_rows[g] == 0, "cuda backend grouped_linear: group ", g, " has ", group_rows[g],
                 " rows but no weight");
      continue;
    }
    MOQA_CHECK(w.shape.size() == 2 && w.shape[1] == in_features, "cuda backend grouped_linear: weight ", g,
               " has shape ", to_string(w.shape), ", expected [out, ", in_features, "]");
    MOQA_CHECK(out_features < 0 || w.shape[0] == out_features, "cuda backend grouped_linear: weight ", g, " has shape ",
               to_string(w.shape), ", the others have ", out_features, " output features");
    out_features = w.shape[0];
    all_bf16 = all_bf16 && cuda::storage_of(w, "grouped_linear").dtype == DType::bfloat16;
  }
  MOQA_CHECK(out_features >= 0, "cuda backend grouped_linear: no weights given");
  const float* x_data = f32(x, "grouped_linear");
  context_->activate();
  Array out = cuda::allocate(context_, {total_rows, out_features}, DType::float32);
  float* y = f32(out, "grouped_linear");
  if (all_bf16) {
    std::vector<const uint16_t*> pointers(weights.size(), nullptr);
    std::vector<int64_t> rows(group_rows.begin(), group_rows.end());
    for (size_t g = 0; g < weights.size(); ++g) {
      if (rows[g] > 0)
        pointers[g] = static_cast<const uint16_t*>(cuda::storage_of(weights[g], "grouped_linear").data());
    }
    cuda::grouped_gemm_bf16(x_data, in_features, out_features, pointers, rows, y, context_->stream_handle());
    return out;
  }
  int64_t first = 0;
  for (size_t g = 0; g < weights.size(); ++g) {
    if (group_rows[g] > 0) {
      const cuda::CudaStorage& w = cuda::storage_of(weights[g], "grouped_linear");
      gemm_xwt(*context_, x_data + first * in_features, group_rows[g], in_features, w.data(), w.dtype, out_features,
               y + first * out_features, "grouped_linear");
    }
    first += group_rows[g];
  }
  return out;
}

Array CudaBackend::rms_norm(const Array& x, const Array& weight, float eps) {
  check_rms_norm(kName, x, weight);
  const int64_t group = weight.size();
  const float* x_data = f32(x, "rms_norm");
  const float* w_data = f32(weight, "rms_norm");
  context_->activate();
  Array out = cuda::allocate(context_, x.shape, DType::float32);
  cuda::rms_norm(x_data, x.rows(), x.cols(), w_data, group, eps, f32(out, "rms_norm"), context_->stream_handle());
  return out;
}

void CudaBackend::rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) {
  check_rope(kName, x, cos, sin, layout);
  float* x_data = f32(x, "rope");
  const float* cos_data = f32(cos, "rope");
  const float* sin_data = f32(sin, "rope");
  context_->activate();
  cuda::rope(x_data, x.rows(), x.cols(), cos_data, sin_data, layout, context_->stream_handle());
}

Array CudaBackend::attention(const Array& q, const Array& k, const Array& v, const AttentionShape& s) {
  check_attention(kName, q, k, v, s);
  const int64_t rows = s.windows * s.seq_len;
  const float* q_data = f32(q, "attention");
  const float* k_data = f32(k, "attention");
  const float* v_data = f32(v, "attention");
  context_->activate();
  Array out = cuda::allocate(context_, {rows, s.heads * s.v_dim}, DType::float32);
  cuda::attention(context_->blas.get(), q_data, k_data, v_data, s, f32(out, "attention"),
                  options_.attention_scratch_bytes, context_->stream_handle());
  return out;
}

Array CudaBackend::silu_mul(const Array& gate, const Array& up) {
  check_same_shape(kName, "silu_mul", gate, up);
  const float* g = f32(gate, "silu_mul");
  const float* u = f32(up, "silu_mul");
  context_->activate();
  Array out = cuda::allocate(context_, gate.shape, DType::float32);
  cuda::silu_mul(g, u, gate.size(), f32(out, "silu_mul"), context_->stream_handle());
  return out;
}

void CudaBackend::add(Array& dst, const Array& src) {
  check_same_shape(kName, "add", dst, src);
  float* d = f32(dst, "add");
  const float* s = f32(src, "add");
  context_->activate();
  cuda::add(d, s, dst.size(), context_->stream_handle());
}

void CudaBackend::scale_rows(Array& x, const Array& scales) {
  check_scale_rows(kName, x, scales);
  float* data = f32(x, "scale_rows");
  const float* s = f32(scales, "scale_rows");
  context_->activate();
  cuda::scale_rows(data, x.rows(), x.cols(), s, context_->stream_handle());
}

void CudaBackend::sigmoid(Array& x) {
  float* data = f32(x, "sigmoid");
  context_->activate();
  cuda::sigmoid(data, x.size(), context_->stream_handle());
}

void CudaBackend::clamp(Array& x, float limit) {
  check_clamp(kName, limit);
  float* data = f32(x, "clamp");
  context_->activate();
  cuda::clamp(data, x.size(), limit, context_->stream_handle());
}

void CudaBackend::copy_blocks(const Array& src, Array& dst, const BlockCopy& b) {
  check_copy_blocks(kName, src, dst, b);
  const float* s = f32(src, "copy_blocks");
  float* d = f32(dst, "copy_blocks");
  context_->activate();
  cuda::copy_blocks(s, src.cols(), d, dst.cols(), src.rows(), b, context_->stream_handle());
}

Array CudaBackend::gather_rows(const Array& x, std::span<const int32_t> rows) {
  check_gather_rows(x, rows);
  const float* x_data = f32(x, "gather_rows");
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  Array out = cuda::allocate(context_, {static_cast<int64_t>(rows.size()), x.cols()}, DType::float32);
  const auto d_rows = cuda::to_device(rows.data(), rows.size(), stream);
  cuda::gather_rows(x_data, x.cols(), d_rows.data(), static_cast<int64_t>(rows.size()), f32(out, "gather_rows"),
                    stream);
  return out;
}

void CudaBackend::scatter_add_rows(Array& dst, const Array& src, std::span<const int32_t> rows,
                                   std::span<const float> weights) {
  check_scatter_add_rows(kName, dst, src, rows, weights);
  float* d = f32(dst, "scatter_add_rows");
  const float* s = f32(src, "scatter_add_rows");
  if (rows.empty()) return;
  // Entries grouped by destination row, each group in the given order (a stable sort), so that a row
  // receiving several sources adds them in the order of the list, as the CPU does.
  std::vector<int32_t> entries(rows.size());
  std::iota(entries.begin(), entries.end(), 0);
  std::stable_sort(entries.begin(), entries.end(), [&](int32_t a, int32_t b) { return rows[a] < rows[b]; });
  std::vector<int32_t> targets;
  std::vector<int64_t> offsets;
  for (size_t e = 0; e < entries.size(); ++e) {
    if (e == 0 || rows[entries[e]] != rows[entries[e - 1]]) {
      targets.push_back(rows[entries[e]]);
      offsets.push_back(static_cast<int64_t>(e));
    }
  }
  offsets.push_back(static_cast<int64_t>(entries.size()));
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  const auto d_targets = cuda::to_device(targets, stream);
  const auto d_offsets = cuda::to_device(offsets, stream);
  const auto d_entries = cuda::to_device(entries, stream);
  const auto d_weights = cuda::to_device(weights.data(), weights.size(), stream);
  cuda::scatter_add_rows(d, dst.cols(), s, d_weights.data(), d_targets.data(), d_offsets.data(), d_entries.data(),
                         static_cast<int64_t>(targets.size()), stream);
}

RouteResult CudaBackend::route(const Array& logits, const RouterSpec& spec) {
  check_route(kName, logits, spec);
  const int64_t experts = logits.cols();
  MOQA_CHECK(spec.n_group <= cuda::kMaxRouterGroups, "cuda backend route: ", spec.n_group, " expert groups, at most ",
             cuda::kMaxRouterGroups, " supported");
  const float* logit_data = f32(logits, "route");
  const float* bias = spec.selection_bias ? f32(*spec.selection_bias, "route") : nullptr;
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  const int64_t tokens = logits.rows();
  RouteResult result;
  result.scores = cuda::allocate(context_, {tokens, experts}, DType::float32);
  cuda::DeviceArray<int32_t> chosen(static_cast<size_t>(tokens * spec.top_k), stream);
  cuda::DeviceArray<float> weights(static_cast<size_t>(tokens * spec.top_k), stream);
  const cuda::RouterParams params{.softmax = spec.scoring == RouterSpec::Scoring::softmax,
                                  .top_k = static_cast<int>(spec.top_k),
                                  .normalize = spec.normalize,
                                  .scaling = static_cast<float>(spec.scaling),
                                  .apply_scaling = spec.scaling != 1.0,
                                  .n_group = static_cast<int>(spec.n_group),
                                  .topk_group = static_cast<int>(spec.topk_group)};
  cuda::route(logit_data, tokens, experts, bias, params, f32(result.scores, "route"), chosen.data(), weights.data(),
              stream);
  result.routing.tokens = tokens;
  result.routing.top_k = spec.top_k;
  result.routing.experts = cuda::to_host(chosen.data(), chosen.size(), stream);
  result.routing.weights = cuda::to_host(weights.data(), weights.size(), stream);
  return result;
}

std::vector<float> CudaBackend::nll(const Array& logits, std::span<const int32_t> targets) {
  check_nll(kName, logits, targets);
  const float* logit_data = f32(logits, "nll");
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  const auto d_targets = cuda::to_device(targets.data(), targets.size(), stream);
  cuda::DeviceArray<float> out(targets.size(), stream);
  cuda::nll(logit_data, logits.rows(), logits.cols(), d_targets.data(), out.data(), stream);
  return cuda::to_host(out.data(), out.size(), stream);
}

}  // namespace moqa::backend
