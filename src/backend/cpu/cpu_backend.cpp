#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace moqa::backend {
namespace {

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
  MOQA_CHECK(!array.empty(), "cpu backend ", op, ": the array is empty (never created)");
  auto* storage = dynamic_cast<CpuStorage*>(array.storage.get());
  MOQA_CHECK(storage != nullptr, "cpu backend ", op, ": the array belongs to another backend");
  return storage->values.get();
}

void check_matrix(const Array& a, int64_t rows, int64_t cols, const char* op, const char* what) {
  MOQA_CHECK(a.rows() == rows && a.cols() == cols, "cpu backend ", op, ": ", what, " has shape ",
             to_string(a.shape), ", expected [", rows, ", ", cols, "]");
}

void check_same(const Array& a, const Array& b, const char* op) {
  MOQA_CHECK(a.size() == b.size() && a.cols() == b.cols(), "cpu backend ", op, ": shapes ", to_string(a.shape),
             " and ", to_string(b.shape), " differ");
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
  MOQA_CHECK(table.shape.size() == 2, "cpu backend embedding: table has shape ", to_string(table.shape),
             ", expected [vocab, dim]");
  Array out = allocate({static_cast<int64_t>(ids.size()), table.cols()});
  cpu::embedding(data(table, "embedding"), table.rows(), table.cols(), ids, data(out, "embedding"));
  return out;
}

Array CpuBackend::linear(const Array& x, const Array& weight, const Array* bias) {
  MOQA_CHECK(weight.shape.size() == 2, "cpu backend linear: weight has shape ", to_string(weight.shape),
             ", expected [out, in]");
  const int64_t out_features = weight.shape[0], in_features = weight.shape[1];
  check_matrix(x, x.rows(), in_features, "linear", "input");
  if (bias) check_matrix(*bias, 1, out_features, "linear", "bias");
  Array out = allocate({x.rows(), out_features});
  cpu::linear(data(x, "linear"), x.rows(), in_features, data(weight, "linear"), out_features,
              bias ? data(*bias, "linear") : nullptr, data(out, "linear"));
  return out;
}

Array CpuBackend::rms_norm(const Array& x, const Array& weight, float eps) {
  const int64_t group = weight.size();
  MOQA_CHECK(group > 0 && x.cols() % group == 0, "cpu backend rms_norm: weight of ", group,
             " values does not divide rows of ", x.cols(), " columns (input shape ", to_string(x.shape), ")");
  Array out = allocate(x.shape);
  cpu::rms_norm(*pool_, data(x, "rms_norm"), x.rows(), x.cols(), data(weight, "rms_norm"), group, eps,
                data(out, "rms_norm"));
  return out;
}

void CpuBackend::rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) {
  MOQA_CHECK(layout.seq_len > 0 && layout.rot_dim > 0 && layout.rot_dim % 2 == 0 && x.rows() % layout.seq_len == 0,
             "cpu backend rope: rot_dim ", layout.rot_dim, " must be even and positive and ", x.rows(),
             " rows a multiple of seq_len ", layout.seq_len);
  MOQA_CHECK(layout.offset + layout.rot_dim <= layout.head_stride &&
                 (layout.heads - 1) * layout.head_stride + layout.head_stride <= x.cols(),
             "cpu backend rope: ", layout.heads, " heads of stride ", layout.head_stride, " rotating [",
             layout.offset, ", ", layout.offset + layout.rot_dim, ") do not fit rows of ", x.cols(), " columns");
  check_matrix(cos, layout.seq_len, layout.rot_dim / 2, "rope", "cos table");
  check_matrix(sin, layout.seq_len, layout.rot_dim / 2, "rope", "sin table");
  cpu::rope(*pool_, data(x, "rope"), x.rows(), x.cols(), data(cos, "rope"), data(sin, "rope"), layout);
}

Array CpuBackend::attention(const Array& q, const Array& k, const Array& v, const AttentionShape& s) {
  MOQA_CHECK(s.heads > 0 && s.kv_heads > 0 && s.heads % s.kv_heads == 0, "cpu backend attention: ", s.heads,
             " query heads are not a multiple of ", s.kv_heads, " key/value heads");
  MOQA_CHECK(s.window >= 0, "cpu backend attention: negative sliding window ", s.window);
  const int64_t rows = s.windows * s.seq_len;
  check_matrix(q, rows, s.heads * s.qk_dim, "attention", "q");
  check_matrix(k, rows, s.kv_heads * s.qk_dim, "attention", "k");
  check_matrix(v, rows, s.kv_heads * s.v_dim, "attention", "v");
  Array out = allocate({rows, s.heads * s.v_dim});
  cpu::attention(*pool_, data(q, "attention"), data(k, "attention"), data(v, "attention"), s,
                 data(out, "attention"));
  return out;
}

Array CpuBackend::silu_mul(const Array& gate, const Array& up) {
  check_same(gate, up, "silu_mul");
  Array out = allocate(gate.shape);
  cpu::silu_mul(*pool_, data(gate, "silu_mul"), data(up, "silu_mul"), gate.size(), data(out, "silu_mul"));
  return out;
}

void CpuBackend::add(Array& dst, const Array& src) {
  check_same(dst, src, "add");
  cpu::add(data(dst, "add"), data(src, "add"), dst.size());
}

void CpuBackend::scale_rows(Array& x, const Array& scales) {
  MOQA_CHECK(scales.size() == x.rows(), "cpu backend scale_rows: ", scales.size(), " scales for ", x.rows(),
             " rows");
  cpu::scale_rows(data(x, "scale_rows"), x.rows(), x.cols(), data(scales, "scale_rows"));
}

void CpuBackend::sigmoid(Array& x) { cpu::sigmoid(data(x, "sigmoid"), x.size()); }

void CpuBackend::clamp(Array& x, float limit) {
  MOQA_CHECK(limit >= 0.0f, "cpu backend clamp: limit ", limit, " is negative");
  cpu::clamp(data(x, "clamp"), x.size(), limit);
}

void CpuBackend::copy_blocks(const Array& src, Array& dst, const BlockCopy& b) {
  MOQA_CHECK(src.rows() == dst.rows(), "cpu backend copy_blocks: ", src.rows(), " source rows vs ", dst.rows(),
             " destination rows");
  MOQA_CHECK(b.count >= 1 && b.width >= 0 && b.src_offset >= 0 && b.dst_offset >= 0 && b.src_stride >= 0 &&
                 b.dst_stride >= 0 && b.src_offset + (b.count - 1) * b.src_stride + b.width <= src.cols() &&
                 b.dst_offset + (b.count - 1) * b.dst_stride + b.width <= dst.cols(),
             "cpu backend copy_blocks: ", b.count, " blocks of ", b.width, " columns (source offset ", b.src_offset,
             " stride ", b.src_stride, ", destination offset ", b.dst_offset, " stride ", b.dst_stride,
             ") do not fit ", src.cols(), " -> ", dst.cols(), " columns");
  cpu::copy_blocks(data(src, "copy_blocks"), src.cols(), data(dst, "copy_blocks"), dst.cols(), src.rows(), b);
}

Array CpuBackend::gather_rows(const Array& x, std::span<const int32_t> rows) {
  Array out = allocate({static_cast<int64_t>(rows.size()), x.cols()});
  cpu::gather_rows(data(x, "gather_rows"), x.cols(), rows, x.rows(), data(out, "gather_rows"));
  return out;
}

void CpuBackend::scatter_add_rows(Array& dst, const Array& src, std::span<const int32_t> rows,
                                  std::span<const float> weights) {
  MOQA_CHECK(src.cols() == dst.cols() && src.rows() == static_cast<int64_t>(rows.size()) &&
                 rows.size() == weights.size(),
             "cpu backend scatter_add_rows: ", src.rows(), " source rows of ", src.cols(), " columns, ",
             rows.size(), " indices and ", weights.size(), " weights for a destination of ", dst.cols(),
             " columns");
  cpu::scatter_add_rows(data(dst, "scatter_add_rows"), dst.rows(), dst.cols(), data(src, "scatter_add_rows"), rows,
                        weights);
}

RouteResult CpuBackend::route(const Array& logits, const RouterSpec& spec) {
  const int64_t experts = logits.cols();
  MOQA_CHECK(spec.top_k >= 1 && spec.n_group >= 1 && experts % spec.n_group == 0 && spec.topk_group >= 1 &&
                 spec.topk_group <= spec.n_group && spec.top_k <= (experts / spec.n_group) * spec.topk_group,
             "cpu backend route: cannot choose ", spec.top_k, " of ", experts, " experts in ", spec.topk_group,
             " of ", spec.n_group, " groups");
  if (spec.selection_bias) check_matrix(*spec.selection_bias, 1, experts, "route", "selection bias");
  RouteResult result;
  result.scores = allocate({logits.rows(), experts});
  result.routing = cpu::route(data(logits, "route"), logits.rows(), experts, spec,
                              spec.selection_bias ? data(*spec.selection_bias, "route") : nullptr,
                              data(result.scores, "route"));
  return result;
}

std::vector<float> CpuBackend::nll(const Array& logits, std::span<const int32_t> targets) {
  MOQA_CHECK(static_cast<int64_t>(targets.size()) == logits.rows(), "cpu backend nll: ", targets.size(),
             " targets for ", logits.rows(), " rows");
  std::vector<float> out(targets.size());
  cpu::nll(*pool_, data(logits, "nll"), logits.rows(), logits.cols(), targets, out.data());
  return out;
}

}  // namespace moqa::backend
