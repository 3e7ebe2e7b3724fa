#pragma once
// The measured quantization error table of the `budgeted` allocation, err[MoE layer][expert][width]
// (docs/ALLOCATION.md §3.6). A layer-major pass of the full-precision model over all calibration windows:
// for each decoder layer, the owners accumulate the Hessians of their experts' inputs (the layer_inputs.h
// collector), quantize each of the expert's gate, up and down projections at every candidate width with
// the configured quantizer and measure its output error trace((W - Q) H (W - Q)^T) (quant/output_error.h);
// the expert's error at a width is the sum over its three matrices. Then the Hessians are freed and the
// layer's full-precision outputs feed the next layer. The table is reduced to rank 0.
#include <cstdint>
#include <vector>

#include "pipeline/calibrate/calibration_batches.h"
#include "pipeline/quantize/layer_pass.h"
#include "pipeline/quantize/quantizer.h"

namespace moqa::pipeline {

struct ErrorProfile {
  std::vector<int> bits;                                // widths measured, ascending
  std::vector<std::vector<std::vector<double>>> error;  // [MoE layer][expert][width]; complete on rank 0
  int64_t windows = 0;
  int64_t tokens = 0;
  int64_t rtn_fallbacks = 0;  // expert matrices measured with RTN because no calibration token reached them
};

// Collective. Advances `batches` through every layer (they hold the last layer's outputs afterwards).
ErrorProfile profile_expert_errors(LayerPassWorld& world, CalibrationBatches& batches, const std::vector<int>& bits,
                                   const QuantizerSettings& settings);

}  // namespace moqa::pipeline
