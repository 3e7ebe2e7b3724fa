#pragma once
// GPTQ with its heavy steps on the device: the inverse Cholesky factor (cuSOLVER + cuBLAS, float64), and
// the column-by-column quantization with error feedback (a kernel per block of columns plus one SGEMM for
// the lazy update of the rest). Same contract, steps and result layout as quant::quantize_gptq
// (src/quant/gptq.h), which is its reference: with the same inputs the grids and codes agree except where
// a different float summation order (cuBLAS vs OpenBLAS) tips a value across a rounding boundary.
#include <string_view>

#include "backend/cuda/cuda_backend.h"
#include "core/tensor.h"
#include "quant/format.h"
#include "quant/gptq.h"
#include "quant/hessian.h"

namespace moqa::cuda {

// As quant::quantize_gptq; additionally options.block_size (after the group-size adjustment) must be at
// most 1024. Runs on `backend`'s device and stream; returns when the result is on the host.
quant::GptqResult quantize_gptq(backend::CudaBackend& backend, const Tensor& weight, quant::Hessian h,
                                const quant::QuantSpec& spec, const quant::GptqOptions& options,
                                std::string_view matrix, const quant::GptqExact& exact = {});

}  // namespace moqa::cuda
