#pragma once
// Writing the quantized model as a moqa quantized checkpoint (quant/checkpoint.h; docs/FORMATS.md,
// "Quantized checkpoint") and, optionally, its dequantized export, from the quantize stage.
//   <output_dir>/quantized-model/     [quantization].save_checkpoint
//   <output_dir>/dequantized-model/   [quantization].export_dequantized (needs the former, written first)
// Every rank writes one shard: its routed experts (packed), and for a share of the decoder layers
// (layer % ranks == rank) the layer's replicated quantized tensors and its full-precision tensors; rank 0
// also the embedding, final norm and lm_head. Rank 0 gathers the shard manifests (as JSON strings),
// writes config.json, the tokenizer files and, last, the index. The model's own dtype (config.json's
// torch_dtype: bfloat16, float16, else float32) is kept for the full-precision tensors and the export.
// The checkpoint holds the baseline quantized model: with channel_adjustment each routed expert's
// full-precision channel cache is stored next to its codes (quant/checkpoint.h, kCacheColumnsSuffix ...), so
// the reloaded model serves what the in-memory baseline serves; a novel distribution's re-quantized
// channels are not stored (they are re-made from the cache).
#include <mpi.h>

#include <filesystem>
#include <iosfwd>

#include "allocate/allocation.h"
#include "config/experiment.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantized_weights.h"

namespace moqa::pipeline {

struct CheckpointPaths {
  std::filesystem::path quantized;
  std::filesystem::path dequantized;
};
CheckpointPaths checkpoint_paths(const config::Experiment& experiment);

// Rank 0: <output_dir>/dequantized-model from the complete quantized checkpoint, in the model's dtype.
void export_dequantized_model(const ModelConfig& config, const config::Experiment& experiment);

// Collective. Returns the paths written (dequantized empty unless exported).
CheckpointPaths save_quantized_checkpoint(const QuantizedWeights& weights, const QuantizationPlan& plan,
                                          const ModelConfig& config, const config::Experiment& experiment,
                                          const allocate::Allocation& allocation, MPI_Comm comm);

}  // namespace moqa::pipeline
