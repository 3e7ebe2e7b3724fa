#pragma once
// /quantization in results.h5 (docs/FORMATS.md, "/quantization"): what the quantize stage did. Rank 0.
#include <cstdint>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "io/hdf5_file.h"
#include "pipeline/quantize/quantization_plan.h"
#include "pipeline/quantize/quantize_pass.h"
#include "pipeline/resume/checkpoint_reuse.h"

namespace moqa::pipeline {

struct NovelRecord {
  std::string name;
  int64_t changed_experts = 0;
  int64_t requantized_tensors = 0;  // all ranks
  int64_t requantized_elements = 0;
};

struct QuantizationRecord {
  const config::Experiment& experiment;
  const QuantizationPlan& plan;
  const QuantizeReport& report;
  int64_t cached_elements = 0;     // entries served from the channel cache, all ranks
  int64_t quantized_elements = 0;  // entries of all quantized tensors
  std::string checkpoint;          // paths written, or empty
  std::string dequantized_checkpoint;
  std::vector<NovelRecord> novel;
  // runtime.resume: the record of the earlier run's checkpoint the tensors were loaded from; null when
  // this run quantized them.
  const CheckpointRecord* reused = nullptr;
  double seconds = 0.0;
};

void write_quantization(io::H5Writer& file, const QuantizationRecord& record);

}  // namespace moqa::pipeline
