#pragma once
// The calibrate stage (PASS 1): MoQa's analysis statistics over every [[calibration]] distribution,
// written to results.h5 (/analysis) and kept in RunContext::calibration for the allocation stage.
namespace moqa::app {

struct RunContext;

void run_calibrate_stage(RunContext& context);

}  // namespace moqa::app
