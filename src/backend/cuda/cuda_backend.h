#pragma once
// The CUDA backend: one device per process (MPI rank r uses device local_rank % device_count, chosen by
// backend::make_backend), float32 activations, weights stored as bfloat16 (upload_weight on matrices) with
// float32 accumulation through cublasGemmEx. Every operation of backend.h runs on the device; each has a
// parity test against its CPU reference (tests/backend/cuda_*_test.cpp).
//
// All work is queued on one stream, in call order; device memory comes from the stream-ordered allocator,
// so temporaries cost no device synchronisation. The host waits only where backend.h returns host values
// (download, route, nll). This header needs no CUDA header: it compiles in any translation unit of a
// CUDA-enabled build.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace moqa::cuda {
struct Context;
}

namespace moqa::backend {

struct CudaOptions {
  int device = 0;               // CUDA device index
  bool bf16_weights = true;     // upload_weight stores tensors of rank >= 2 as bfloat16; vectors stay float32
  bool poison_outputs = false;  // fill every new array with NaN before an operation writes it (tests)
  int64_t attention_scratch_bytes = int64_t{1} << 30;  // bounds attention's score matrices per chunk
};

class CudaBackend final : public Backend {
 public:
  // Throws moqa::Error when the device does not exist or cannot be initialised.
  explicit CudaBackend(CudaOptions options = {});
  ~CudaBackend() override;

  std::string describe() const override;

  Array upload(const Tensor& host) override;
  Array upload_weight(const Tensor& host) override;
  Tensor download(const Array& array) override;
  Array zeros(const Shape& shape) override;
  Array copy(const Array& array) override;

  Array embedding(const Array& table, std::span<const int32_t> ids) override;
  Array linear(const Array& x, const Array& weight, const Array* bias) override;
  Array rms_norm(const Array& x, const Array& weight, float eps) override;
  void rope(Array& x, const Array& cos, const Array& sin, const RopeLayout& layout) override;
  Array attention(const Array& q, const Array& k, const Array& v, const AttentionShape& shape) override;
  Array silu_mul(const Array& gate, const Array& up) override;
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

  // ---- Beyond backend.h ------------------------------------------------------------------------
  // One linear per group of consecutive rows, in one launch when every weight is bfloat16 (grouped GEMM):
  // x [Σ group_rows, in], weights[g] [out, in] (all the same shape) -> [Σ group_rows, out]; row block g of
  // the result is x's row block g times weights[g]ᵀ. No bias. A group with no rows may have an empty weight.
  Array grouped_linear(const Array& x, std::span<const int64_t> group_rows, std::span<const Array> weights);
  // Rows [first_row, first_row + rows) of `array` as an array sharing its storage (no copy).
  Array row_slice(const Array& array, int64_t first_row, int64_t rows);
  // Waits until all queued work is done (and reports any asynchronous device error).
  void synchronize();
  const CudaOptions& options() const { return options_; }
  // For the device code beside this backend (src/backend/cuda): stream, library handles, allocation.
  const std::shared_ptr<cuda::Context>& context() const { return context_; }

 private:
  CudaOptions options_;
  std::shared_ptr<cuda::Context> context_;
};

}  // namespace moqa::backend
