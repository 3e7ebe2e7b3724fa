#pragma once
// The quantize stage (PASS 2; docs/QUANTIZATION.md §2-§6): quantizes the tensors of the quantization plan
// at the allocation's widths - GPTQ's sequential protocol over the pooled calibration windows, or RTN
// straight from the checkpoint - and fills RunContext::quantized_weights on every rank (and, with channel
// adjustment, RunContext::novel_weights). Writes /quantization and, when asked, the quantized checkpoint.
// Without an allocate stage in the run (possible for the uniform method) it runs the allocation first.
namespace moqa::pipeline {

struct RunContext;

void run_quantize_stage(RunContext& context);

}  // namespace moqa::pipeline
