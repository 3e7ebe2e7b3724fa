#pragma once
// The allocate stage (docs/QUANTIZATION.md §1): rank 0 turns the calibration statistics into one width per
// routed expert (allocate/allocation.h) and broadcasts it; with `budgeted` the quantization error table is
// measured first (pipeline/allocate/error_profile.h); with quantization.channel_adjustment the channel cache is planned
// and every novel [[evaluation]] perplexity set is profiled and re-allocated (pipeline/channel_adjustment.h).
// Fills RunContext::allocation (and channel_adjustment) on every rank and writes /allocation.
namespace moqa::pipeline {

struct RunContext;

void run_allocate_stage(RunContext& context);

}  // namespace moqa::pipeline
