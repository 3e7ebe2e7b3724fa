#include "backend/cuda/hessian.h"

#include <utility>

#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/hessian.cuh"

namespace moqa::cuda {
namespace {

// float64 copies of the rows are converted in chunks of this size (bounds the temporary; large enough
// for SYRK to run at full rate).
constexpr int64_t kChunkBytes = int64_t{256} << 20;

}  // namespace

DeviceHessian::DeviceHessian(backend::CudaBackend& backend, int64_t cols) : context_(backend.context()), cols_(cols) {
  MOQA_CHECK(cols > 0, "Hessian accumulator: column count must be positive, got ", cols);
  context_->activate();
  const size_t bytes = static_cast<size_t>(cols * cols) * sizeof(double);
  sum_ = std::make_unique<DeviceMemory>(bytes, context_->stream_handle());
  MOQA_CUDA_CHECK(cudaMemsetAsync(sum_->get(), 0, bytes, context_->stream_handle()));
}

DeviceHessian::~DeviceHessian() = default;
DeviceHessian::DeviceHessian(DeviceHessian&&) noexcept = default;
DeviceHessian& DeviceHessian::operator=(DeviceHessian&& other) noexcept {
  if (this == &other) return *this;
  // The old sum is freed on its context's stream, so it goes first: a defaulted assignment would replace
  // context_ (possibly destroying that stream with the last reference) before sum_.
  sum_.reset();
  context_ = std::move(other.context_);
  cols_ = std::exchange(other.cols_, 0);
  samples_ = std::exchange(other.samples_, 0);
  sum_ = std::move(other.sum_);
  return *this;
}

void DeviceHessian::accumulate(const backend::Array& rows) {
  MOQA_CHECK(!rows.shape.empty() && rows.cols() == cols_, "Hessian accumulator: input of shape ", to_string(rows.shape),
             " does not end in the ", cols_, " input columns of the layer");
  const float* x = f32(rows, "Hessian accumulation");
  context_->activate();
  const cudaStream_t stream = context_->stream_handle();
  const int64_t count = rows.rows();
  const int64_t bad = first_non_finite(x, count * cols_, stream);
  if (bad >= 0) {
    const float value = to_host(x + bad, 1, stream)[0];
    fail("Hessian accumulator: input row ", samples_ + bad / cols_, ", column ", bad % cols_, " is ", value,
         ", expected a finite value");
  }
  accumulate_hessian(context_->blas.get(), x, count, cols_, static_cast<double*>(sum_->get()), kChunkBytes, stream);
  samples_ += count;
}

quant::HessianSum DeviceHessian::download() const {
  context_->activate();
  quant::HessianSum out;
  out.cols = cols_;
  out.samples = samples_;
  out.sum =
      to_host(static_cast<const double*>(sum_->get()), static_cast<size_t>(cols_ * cols_), context_->stream_handle());
  return out;
}

}  // namespace moqa::cuda
