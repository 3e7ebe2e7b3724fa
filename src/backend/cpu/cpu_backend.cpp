#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <memory>

#include "backend/checks.h"
#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace moqa::backend {
namespace {

constexpr const char* kName = "cpu backend";  // names this backend in argument errors

struct CpuStorage final : ArrayStorage {
  explicit CpuStorage(int64_t count)
      : values(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(std::max<int64_t>(count, 1)))) {}
  std::unique_ptr<float[]> values;
};

Array allocate(Shape shape) {
  Array out;
  const int64_t count = element_count(shape);
  out.shape = std::move(shape);
  out.storage = std::make_shared<CpuStorage>(count);
  return out;
}

float* data(const Array& array, const char* op) {
  MOQA_CHECK(!array.empty(), kName, " ", op, ": the array is empty (never created)");
  auto* storage = dynamic_cast<CpuStorage*>(array.storage.get());
  MOQA_CHECK(storage != nullptr, kName, " ", op, ": the array belongs to another backend");
  return storage->values.get();
}

}  // namespace

CpuBackend::CpuBackend(CpuOptions options) {
  MOQA_CHECK(options.threads >= 0, "cpu backend: thread count must be >= 0, got ", options.threads);
  if (options.threads > 0) openblas_set_num_threads(options.threads);
  pool_ = std::make_unique<cpu::WorkerPool>(options.threads > 0 ? options.threads : openblas_get_num_threads());
}

CpuBackend::~CpuBackend() = default;

std::string CpuBackend::describe() const {
  return cat("cpu (float32, OpenBLAS ", openblas_get_num_threads(), " threads, ", pool_->threads(),
             " kernel threads)");
}

Array CpuBackend::upload(const Tensor& host) {
  MOQA_CHECK(host.size() == element_count(host.shape), "cpu backend upload: tensor of shape ",
             to_string(host.shape), " holds ", host.size(), " values");
  Array out = allocate(host.shape);
  std::copy(host.data.begin(), host.data.end(), data(out, "upload"));
  return out;
}

Array CpuBackend::upload_weight(const Tensor& host) { return upload(host); }

Tensor CpuBackend::download(const Array& array) {
  const float* values = data(array, "download");
  return Tensor(array.shape, std::vector<float>(values, values + array.size()));
}

Array CpuBackend::zeros(const Shape& shape) {
  Array out = allocate(shape);
  std::fill_n(data(out, "zeros"), out.size(), 0.0f);
  return out;
}

Array CpuBackend::copy(const Array& array) {
  Array out = allocate(array.shape);
  std::copy_n(data(array, "copy"), array.size(), data(out, "copy"));
  return out;
}

Array CpuBackend::embedding(const Array& table, std::span<const int32_t> ids) {
  check_embedding(kName, table, ids);
  Array out = allocate({static_cast<int64_t>(ids.size()), table.cols()});
  cpu::gather_rows(data(table, "embedding"), table.cols(), ids, data(out, "embedding"));
  return out;
}

Array CpuBackend::linear(const Array& x, const Array& weight, const Array* bias) {
  check_linear(kName, x, weight, bias);
  const int64_t out_features = weight.shape[0], in_features = weight.shape[1];
  Array out = allocate({x.rows(), out_features});
  cpu::linear(data(x, "linear"), x.rows(), in_features, data(weight, "linear"), out_features,
              bias ? data(*bias, "linear") : nullptr, data(out, "linear"));
  return out;
}

Array CpuBackend::rms_norm(const Array& x, const Array& weight, float eps) {
  check_rms_norm(kName, x, weight);
  Array out = allocate(x.shape);
  cpu::rms_norm(*pool_, data(x, "rms_norm"), x.rows(), x.cols(), data(weight, "rms_norm"), weight.size(), eps,
                data(out, "rms_norm"));
  return out;
}

void CpuBackend::rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) {
  check_rope(kName, x, cos, sin, layout);
  cpu::rope(*pool_, data(x, "rope"), x.rows(), x.cols(), data(cos, "rope"), data(sin, "rope"), layout);
}

Array CpuBackend::attention(const Array& q, const Array& k, const Array& v, const AttentionShape& s) {
  check_attention(kName, q, k, v, s);
  Array out = allocate({s.windows * s.seq_len, s.heads * s.v_dim});
  cpu::attention(*pool_, data(q, "attention"), data(k, "attention"), data(v, "attention"), s,
                 data(out, "attention"));
  return out;
}

Array CpuBackend::silu_mul(const Array& gate, const Array& up) {
  check_same_shape(kName, "silu_mul", gate, up);
  Array out = allocate(gate.shape);
  cpu::silu_mul(*pool_, data(gate, "silu_mul"), data(up, "silu_mul"), gate.size(), data(out, "silu_mul"));
  return out;
}

void CpuBackend::add(Array& dst, const Array& src) {
  check_same_shape(kName, "add", dst, src);
  cpu::add(data(dst, "add"), data(src, "add"), dst.size());
}

void CpuBackend::scale_rows(Array& x, const Array& scales) {
  check_scale_rows(kName, x, scales);
  cpu::scale_rows(data(x, "scale_rows"), x.rows(), x.cols(), data(scales, "scale_rows"));
}

void CpuBackend::sigmoid(Array& x) { cpu::sigmoid(data(x, "sigmoid"), x.size()); }

void CpuBackend::clamp(Array& x, float limit) {
  check_clamp(kName, limit);
  cpu::clamp(data(x, "clamp"), x.size(), limit);
}

void CpuBackend::copy_blocks(const Array& src, Array& dst, const BlockCopy& b) {
  check_copy_blocks(kName, src, dst, b);
  cpu::copy_blocks(data(src, "copy_blocks"), src.cols(), data(dst, "copy_blocks"), dst.cols(), src.rows(), b);
}

Array CpuBackend::gather_rows(const Array& x, std::span<const int32_t> rows) {
  check_gather_rows(x, rows);
  Array out = allocate({static_cast<int64_t>(rows.size()), x.cols()});
  cpu::gather_rows(data(x, "gather_rows"), x.cols(), rows, data(out, "gather_rows"));
  return out;
}

void CpuBackend::scatter_add_rows(Array& dst, const Array& src, std::span<const int32_t> rows,
                                  std::span<const float> weights) {
  check_scatter_add_rows(kName, dst, src, rows, weights);
  cpu::scatter_add_rows(data(dst, "scatter_add_rows"), dst.cols(), data(src, "scatter_add_rows"), rows, weights);
}

RouteResult CpuBackend::route(const Array& logits, const RouterSpec& spec) {
  check_route(kName, logits, spec);
  const int64_t experts = logits.cols();
  RouteResult result;
  result.scores = allocate({logits.rows(), experts});
  result.routing = cpu::route(data(logits, "route"), logits.rows(), experts, spec,
                              spec.selection_bias ? data(*spec.selection_bias, "route") : nullptr,
                              data(result.scores, "route"));
  return result;
}

std::vector<float> CpuBackend::nll(const Array& logits, std::span<const int32_t> targets) {
  check_nll(kName, logits, targets);
  std::vector<float> out(targets.size());
  cpu::nll(*pool_, data(logits, "nll"), logits.rows(), logits.cols(), targets, out.data());
  return out;
}

}  // namespace moqa::backend
