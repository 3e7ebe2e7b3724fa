#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "backend/checks.h"
#include "backend/cpu/kernels.h"
#include "core/error.h"

namespace moqa::backend {
namespace {

constexpr const char* kName = "cpu backend";  // names this backend in argument errors

// Either a fresh buffer or a host tensor's vector taken over (take_weight); `values` points into it.
struct CpuStorage final : ArrayStorage {
  explicit CpuStorage(int64_t count)
      : buffer(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(std::max<int64_t>(count, 1)))),
        values(buffer.get()) {}
  explicit CpuStorage(std::vector<float>&& taken) : vector(std::move(taken)), values(vector.data()) {}
  std::unique_ptr<float[]> buffer;
  std::vector<float> vector;
  float* values;
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
  return storage->values;
}

const float* data_or_null(const Array* array, const char* op) { return array ? data(*array, op) : nullptr; }

// OpenBLAS's thread count is process-wide; this sets it to one for a scope and restores it after.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : previous_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~SingleThreadedBlas() { openblas_set_num_threads(previous_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

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

Array CpuBackend::take_weight(Tensor&& host) {
  MOQA_CHECK(host.size() == element_count(host.shape), "cpu backend upload: tensor of shape ", to_string(host.shape),
             " holds ", host.size(), " values");
  if (host.data.empty()) return upload(host);  // keeps every array's storage non-null
  Array out;
  out.shape = std::move(host.shape);
  out.storage = std::make_shared<CpuStorage>(std::move(host.data));
  return out;
}

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

std::vector<SwigluResult> CpuBackend::routed_experts(std::span<const SwigluJob> jobs, bool keep_activated) {
  if (pool_->threads() < 2) return Backend::routed_experts(jobs, keep_activated);
  for (const SwigluJob& job : jobs) check_swiglu(kName, job);
  std::vector<size_t> order(jobs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return jobs[a].x->rows() > jobs[b].x->rows(); });
  std::vector<SwigluResult> results(jobs.size());
  const SingleThreadedBlas one_thread_per_job;
  pool_->for_each_index(static_cast<int64_t>(jobs.size()), [&](int64_t k) {
    const size_t j = order[static_cast<size_t>(k)];
    const SwigluJob& job = jobs[j];
    const int64_t n = job.x->rows(), in = job.x->cols(), ffn = job.gate->shape[0], out = job.down->shape[0];
    Array activated = allocate({n, ffn});
    results[j].out = allocate({n, out});
    const auto scratch =
        std::make_unique_for_overwrite<float[]>(static_cast<size_t>(std::max<int64_t>(2 * n * ffn, 1)));
    cpu::swiglu(data(*job.x, "swiglu"), n, in, ffn, out,
                {.gate = data(*job.gate, "swiglu"),
                 .gate_bias = data_or_null(job.gate_bias, "swiglu"),
                 .up = data(*job.up, "swiglu"),
                 .up_bias = data_or_null(job.up_bias, "swiglu"),
                 .down = data(*job.down, "swiglu"),
                 .down_bias = data_or_null(job.down_bias, "swiglu")},
                scratch.get(), data(activated, "swiglu"), data(results[j].out, "swiglu"));
    if (keep_activated) results[j].activated = std::move(activated);
  });
  return results;
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
