#include "pipeline/quantize/quantizer.h"

#include "core/error.h"
#include "quant/rtn.h"

namespace moqa::pipeline {

QuantizerSettings quantizer_settings(const config::QuantizationSection& q) {
  QuantizerSettings s;
  s.method = q.method;
  s.group_size = q.group_size;
  s.symmetric = q.symmetric;
  s.scale_dtype = q.scale_dtype;
  s.gptq.damp_fraction = q.damp_percent;
  s.gptq.block_size = q.block_size;
  s.gptq.act_order = q.act_order;
  s.gptq.static_groups = q.static_groups;
  s.gptq.variant = q.gptq_variant;
  s.true_sequential = q.true_sequential;
  return s;
}

QuantizedWeight quantize_weight(const Tensor& weight, const quant::HessianSum* inputs, int bits,
                                const QuantizerSettings& settings, std::string_view name,
                                const quant::GptqExact& exact) {
  const quant::QuantSpec spec{
      .bits = bits, .group_size = settings.group_size, .symmetric = settings.symmetric, .scale_dtype = settings.scale_dtype};
  QuantizedWeight out;
  if (settings.method == config::QuantMethod::rtn) {
    out.matrix = quant::quantize_rtn(weight, spec, name);
    return out;
  }
  MOQA_CHECK(inputs != nullptr, name, ": GPTQ needs the Hessian of the calibration inputs");
  if (inputs->samples == 0) {
    out.matrix = quant::quantize_rtn(weight, spec, name);
    out.rtn_fallback = true;
    return out;
  }
  quant::GptqResult result =
      quant::quantize_gptq(weight, quant::normalized_hessian(*inputs), spec, settings.gptq, name, exact);
  out.matrix = std::move(result.matrix);
  out.exact_column_values = std::move(result.exact_column_values);
  out.gptq_loss = result.loss;
  return out;
}

}  // namespace moqa::pipeline
