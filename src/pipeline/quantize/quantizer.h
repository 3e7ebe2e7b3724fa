#pragma once
// One call that quantizes a weight matrix the way [quantization] says: RTN, or GPTQ from the Hessian of
// the matrix's calibration inputs. Used by the quantize stage and by the error profile of `budgeted`, so
// both measure the same quantizer.
#include <string_view>

#include "config/experiment.h"
#include "core/tensor.h"
#include "quant/format.h"
#include "quant/gptq.h"
#include "quant/hessian.h"

namespace moqa::pipeline {

struct QuantizerSettings {
  config::QuantMethod method = config::QuantMethod::gptq;
  int64_t group_size = 128;  // <= 0: per output channel
  bool symmetric = false;
  quant::ScaleDtype scale_dtype = quant::ScaleDtype::f16;
  quant::GptqOptions gptq;
  // Read by the sequential GPTQ pass only (quantize_pass.h), not by quantize_weight.
  bool true_sequential = false;
};

QuantizerSettings quantizer_settings(const config::QuantizationSection& quantization);

struct QuantizedWeight {
  quant::QuantizedMatrix matrix;
  double gptq_loss = 0.0;     // GPTQ's own error measure (gptq.h); 0 for RTN
  bool rtn_fallback = false;  // GPTQ was asked for but the inputs had no rows
  // GPTQ with exact columns: their final weights (quant::GptqResult::exact_column_values), to be served
  // instead of the original ones; empty otherwise (RTN spreads no error: its exact entries keep the original).
  std::vector<float> exact_column_values;
};

// `inputs` may be null for RTN. GPTQ with a Hessian of zero samples (a routed expert no calibration token
// reached) falls back to RTN: GPTQ would treat every input column as dead and zero the whole matrix.
// `exact`: entries served from the channel cache, kept exact inside GPTQ (quant::GptqExact).
QuantizedWeight quantize_weight(const Tensor& weight, const quant::HessianSum* inputs, int bits,
                                const QuantizerSettings& settings, std::string_view name,
                                const quant::GptqExact& exact = {});

}  // namespace moqa::pipeline
