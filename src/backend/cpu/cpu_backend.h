#pragma once
// The CPU backend: float32 host memory, OpenBLAS for matmuls, the kernels of cpu/kernels.h for the rest.
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/worker_pool.h"

namespace moqa::backend {

struct CpuOptions {
  // Threads for OpenBLAS and for the backend's own kernels; 0 = OpenBLAS's default (OPENBLAS_NUM_THREADS
  // or all cores) for both. OpenBLAS's count is process-wide: the last CPU backend constructed sets it.
  int threads = 0;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(CpuOptions options = {});
  ~CpuBackend() override;

  std::string describe() const override;

  Array upload(const Tensor& host) override;
  Array upload_weight(const Tensor& host) override;
  Array take_weight(Tensor&& host) override;
  Tensor download(const Array& array) override;
  Array zeros(const Shape& shape) override;
  Array copy(const Array& array) override;

  Array embedding(const Array& table, std::span<const int32_t> ids) override;
  Array linear(const Array& x, const Array& weight, const Array* bias) override;
  Array rms_norm(const Array& x, const Array& weight, float eps) override;
  void rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) override;
  Array attention(const Array& q, const Array& k, const Array& v, const AttentionShape& shape) override;
  Array silu_mul(const Array& gate, const Array& up) override;
  // With two or more threads: one expert per thread at a time, largest first, each with single-threaded
  // BLAS (an expert's rows are too few to split well across threads). Always so, even for one job: BLAS's
  // threaded products round differently, and an expert's values must not depend on its batch.
  std::vector<SwigluResult> routed_experts(std::span<const SwigluJob> jobs, bool keep_activated) override;
  void add(Array& dst, const Array& src) override;
  void scale_rows(Array& x, const Array& scales) override;
  void sigmoid(Array& x) override;
  void clamp(Array& x, float limit) override;
  void copy_blocks(const Array& src, Array& dst, const BlockCopy& blocks) override;
  Array gather_rows(const Array& x, std::span<const int32_t> rows) override;
  void scatter_add_rows(Array& dst, const Array& src, std::span<const int32_t> rows,
                        std::span<const float> weights) override;
  RouteResult route(const Array& logits, const RouterSpec& spec) override;
  std::vector<float> nll(const Array& logits, std::span<const int32_t> targets) override;

 private:
  std::unique_ptr<cpu::WorkerPool> pool_;
};

}  // namespace moqa::backend
