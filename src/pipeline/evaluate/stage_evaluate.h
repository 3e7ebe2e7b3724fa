#pragma once
// The evaluate stage: every [[evaluation]] set (perplexity or zero-shot accuracy) on the full-precision
// model (the baseline; per set `baseline`, always when the run has no quantized model) and on the
// quantized model when the quantize stage left one in RunContext::quantized_weights. Both models run
// the same expert-parallel forward (pipeline/rank_model.h): each rank scores a contiguous, balanced share of
// the windows / examples, all ranks run the same number of forward passes (the all-to-all executor is
// collective), and the sums and counts are reduced over ranks, so results do not depend on the rank
// count beyond float summation order. Rank 0 reports progress and writes results.h5 /metrics;
// RunContext::evaluations receives the records for results.json / results.md.
namespace moqa::pipeline {

struct RunContext;

void run_evaluate_stage(RunContext& context);

}  // namespace moqa::pipeline
