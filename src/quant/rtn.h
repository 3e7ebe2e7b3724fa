#pragma once
// Round-to-nearest quantization: every group gets its own grid (uniform_grid.h) fitted to its min/max
// (asymmetric) or absmax (symmetric) and each weight is rounded independently. The baseline GPTQ must beat.
#include <string_view>

#include "core/tensor.h"
#include "quant/format.h"

namespace moqa::quant {

// weight: [out_features, in_features]. Groups are consecutive input columns (no g_idx). `matrix` names the
// tensor in error messages.
QuantizedMatrix quantize_rtn(const Tensor& weight, const QuantSpec& spec, std::string_view matrix);

}  // namespace moqa::quant
