#pragma once
// A quantized weight (quant::QuantizedMatrix: packed 2/3/4/6/8-bit codes, group scales and zeros) resident
// on the device, and the products that read it directly: y = x · dequantize(W)ᵀ for evaluating quantized
// models without materialising float weights on the host.
#include <cstdint>
#include <memory>
#include <string_view>

#include "backend/array.h"
#include "backend/cuda/cuda_backend.h"
#include "quant/format.h"

namespace moqa::cuda {

struct Context;
struct PackedMatrixView;

class DeviceQuantizedMatrix {
 public:
  // Validates q (quant::validate, naming `matrix`) and uploads it.
  DeviceQuantizedMatrix(backend::CudaBackend& backend, const quant::QuantizedMatrix& q, std::string_view matrix);
  ~DeviceQuantizedMatrix();
  DeviceQuantizedMatrix(DeviceQuantizedMatrix&&) noexcept;
  DeviceQuantizedMatrix& operator=(DeviceQuantizedMatrix&&) noexcept;

  int64_t rows() const;
  int64_t cols() const;
  int bits() const;
  // Bytes the device holds for it (packed codes, scales, zeros, g_idx): what a product must read.
  int64_t device_bytes() const;
  PackedMatrixView view() const;

 private:
  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

// The float32 matrix [rows, cols] the codes stand for (as quant::dequantize computes it).
backend::Array dequantize(backend::CudaBackend& backend, const DeviceQuantizedMatrix& w);

// x [n, cols] -> [n, rows] = x · dequantize(W)ᵀ. n <= 8: one fused kernel reading the packed codes (float32
// throughout). Larger n: the weight is dequantized to a temporary (bfloat16 when the backend stores weights
// as bfloat16, else float32) and multiplied by cuBLAS, as backend.linear would.
backend::Array quantized_linear(backend::CudaBackend& backend, const backend::Array& x, const DeviceQuantizedMatrix& w);

}  // namespace moqa::cuda
