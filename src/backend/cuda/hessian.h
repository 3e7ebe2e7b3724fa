#pragma once
// quant::HessianSum kept on the device: rows of a layer's inputs (arrays of the CUDA backend, e.g. what a
// ForwardObserver receives) are added with one float64 SYRK each, without leaving the device; download()
// hands the sum to the host code (merge across ranks, normalized_hessian, GPTQ) unchanged.
#include <cstdint>
#include <memory>

#include "backend/array.h"
#include "backend/cuda/cuda_backend.h"
#include "quant/hessian.h"

namespace moqa::cuda {

struct Context;
class DeviceMemory;

class DeviceHessian {
 public:
  DeviceHessian(backend::CudaBackend& backend, int64_t cols);
  ~DeviceHessian();
  DeviceHessian(DeviceHessian&&) noexcept;
  DeviceHessian& operator=(DeviceHessian&&) noexcept;

  // rows: float32 [count, cols] (any shape ending in cols). Throws, as quant::accumulate does, on a
  // non-finite value, naming its row (counted over all rows accumulated so far) and column.
  void accumulate(const backend::Array& rows);
  // The sum so far, laid out as quant::HessianSum (upper triangle, strict lower part 0). Synchronises.
  quant::HessianSum download() const;

  int64_t cols() const { return cols_; }
  int64_t samples() const { return samples_; }

 private:
  std::shared_ptr<Context> context_;
  int64_t cols_ = 0;
  int64_t samples_ = 0;
  std::unique_ptr<DeviceMemory> sum_;  // [cols, cols] float64
};

}  // namespace moqa::cuda
