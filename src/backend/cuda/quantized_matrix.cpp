#include "backend/cuda/quantized_matrix.h"

#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/dequant_matmul.cuh"

namespace moqa::cuda {

struct DeviceQuantizedMatrix::Buffers {
  std::shared_ptr<Context> context;  // outlives the arrays below
  PackedMatrixView view;
  DeviceArray<uint32_t> packed;
  DeviceArray<float> scales;
  DeviceArray<uint8_t> zeros;
  DeviceArray<int32_t> g_idx;
};

DeviceQuantizedMatrix::DeviceQuantizedMatrix(backend::CudaBackend& backend, const quant::QuantizedMatrix& q,
                                             std::string_view matrix)
    : buffers_(std::make_unique<Buffers>()) {
  quant::validate(q, matrix);
  Buffers& b = *buffers_;
  b.context = backend.context();
  b.context->activate();
  const cudaStream_t stream = b.context->stream_handle();
  b.packed = to_device(q.packed, stream);
  b.scales = to_device(q.scales, stream);
  b.zeros = to_device(q.zeros, stream);
  b.g_idx = to_device(q.g_idx, stream);
  b.view.rows = q.rows;
  b.view.cols = q.cols;
  b.view.bits = q.bits;
  b.view.group_size = q.group_size;
  b.view.words_per_row = q.words_per_row();
  b.view.packed = b.packed.data();
  b.view.scales = b.scales.data();
  b.view.zeros = b.zeros.data();
  b.view.g_idx = q.g_idx.empty() ? nullptr : b.g_idx.data();
}

DeviceQuantizedMatrix::~DeviceQuantizedMatrix() = default;
DeviceQuantizedMatrix::DeviceQuantizedMatrix(DeviceQuantizedMatrix&&) noexcept = default;
DeviceQuantizedMatrix& DeviceQuantizedMatrix::operator=(DeviceQuantizedMatrix&&) noexcept = default;

int64_t DeviceQuantizedMatrix::rows() const { return buffers_->view.rows; }
int64_t DeviceQuantizedMatrix::cols() const { return buffers_->view.cols; }
int DeviceQuantizedMatrix::bits() const { return buffers_->view.bits; }
PackedMatrixView DeviceQuantizedMatrix::view() const { return buffers_->view; }

int64_t DeviceQuantizedMatrix::device_bytes() const {
  const Buffers& b = *buffers_;
  return static_cast<int64_t>(b.packed.size() * sizeof(uint32_t) + b.scales.size() * sizeof(float) + b.zeros.size() +
                              b.g_idx.size() * sizeof(int32_t));
}

backend::Array dequantize(backend::CudaBackend& backend, const DeviceQuantizedMatrix& w) {
  const std::shared_ptr<Context>& ctx = backend.context();
  ctx->activate();
  backend::Array out = allocate(ctx, {w.rows(), w.cols()}, DType::float32);
  dequantize_f32(w.view(), f32(out, "dequantize"), ctx->stream_handle());
  return out;
}

backend::Array quantized_linear(backend::CudaBackend& backend, const backend::Array& x,
                                const DeviceQuantizedMatrix& w) {
  MOQA_CHECK(x.cols() == w.cols(), "cuda quantized_linear: input of shape ", to_string(x.shape), " for a [", w.rows(),
             ", ", w.cols(), "] weight");
  const float* x_data = f32(x, "quantized_linear");
  const std::shared_ptr<Context>& ctx = backend.context();
  ctx->activate();
  const int64_t n = x.rows();
  if (n >= 1 && n <= kMaxFusedRows) {
    backend::Array out = allocate(ctx, {n, w.rows()}, DType::float32);
    dequant_matmul_small(w.view(), x_data, n, f32(out, "quantized_linear"), ctx->stream_handle());
    return out;
  }
  if (!backend.options().bf16_weights) return backend.linear(x, dequantize(backend, w), nullptr);
  backend::Array weight = allocate(ctx, {w.rows(), w.cols()}, DType::bfloat16);
  dequantize_bf16(w.view(), static_cast<uint16_t*>(storage_of(weight, "quantized_linear").data()),
                  ctx->stream_handle());
  return backend.linear(x, weight, nullptr);
}

}  // namespace moqa::cuda
