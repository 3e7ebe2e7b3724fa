#pragma once
// PASS 2: quantizing the model's tensors (docs/QUANTIZATION.md §3).
//
// GPTQ, sequentially, layer by layer (quantize_sequential): with the calibration windows' hidden states at
// the input of decoder layer L (produced by the already quantized layers 0..L-1),
//   1. run L on a copy of every batch with a LayerInputCollector: owners accumulate their routed experts'
//      Hessians; the rows of the replicated linears' inputs are gathered, batch by batch, to the rank that
//      quantizes them;
//   2. each rank quantizes its tensors of L at their planned width (GPTQ; RTN for an expert no token
//      reached); the replicated ones are broadcast from their quantizer, so every rank holds them byte for
//      byte; everything is added to the QuantizedWeights store and set on the model (set_weight of the
//      served values: dequantized, cached channels in full precision);
//   3. free L's Hessians and run L again, in place, with the quantized weights: its outputs feed L+1.
// With quantization.true_sequential = false all linears of L get their inputs from the forward of L with
// full-precision L weights (and quantized earlier layers). With true_sequential (AutoGPTQ's default),
// steps 1-2 run once per sequential_step of L's tensors (quantization_plan.h: attention input, MLA
// latents, attention output, MLP input, down projections), each collecting its inputs with the earlier
// steps already quantized and set on the model. lm_head, when quantized, is done last, from the
// final-norm states of the fully quantized stack.
//
// RTN needs no calibration data: quantize_from_original quantizes each tensor straight from the original
// checkpoint (the embedding table, always RTN, also goes this way before the sequential pass).
#include <array>
#include <cstdint>
#include <vector>

#include "pipeline/calibrate/calibration_batches.h"
#include "pipeline/quantize/layer_pass.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantized_weights.h"
#include "pipeline/quantize/quantizer.h"

namespace moqa::pipeline {

// Cached channels per routed expert, [MoE layer][expert] -> hidden channels; null or empty = no cache.
using ChannelSets = std::vector<std::vector<std::vector<int64_t>>>;

struct QuantizeReport {
  int64_t tensors = 0;        // quantized, all ranks
  int64_t rtn_fallbacks = 0;  // GPTQ targets quantized with RTN for lack of inputs, all ranks
  int64_t windows = 0;        // calibration windows / tokens the sequential pass ran (0 for RTN)
  int64_t tokens = 0;
  // GPTQ's loss (quant/gptq.h) of each routed expert's gate, up and down, [MoE layer][expert]; complete on
  // rank 0 after the pass (zeros for RTN).
  std::vector<std::vector<std::array<double, 3>>> expert_loss;
};

// Collective. Adds every target of `plan` that this rank holds to `store` and sets it on world.model.
QuantizeReport quantize_sequential(LayerPassWorld& world, CalibrationBatches& batches, const QuantizationPlan& plan,
                                   const QuantizerSettings& settings, QuantizedWeights& store,
                                   const ChannelSets* channels);

// Collective. Quantizes plan.targets[i] for every i in `which` with RTN from store.original(), on its
// quantizer rank, broadcasting the replicated ones, and adds them to `store`.
QuantizeReport quantize_from_original(const QuantizationPlan& plan, const std::vector<size_t>& which,
                                      const QuantizerSettings& settings, QuantizedWeights& store,
                                      const ChannelSets* channels, MPI_Comm comm, std::ostream* progress = nullptr,
                                      double progress_interval_s = 2.0);

}  // namespace moqa::pipeline
