#pragma once
// The calibrate stage (PASS 1): MoQa's analysis statistics over every [[calibration]] distribution,
// written to results.h5 (/analysis) and kept in RunContext::calibration for the allocation stage.
#include "analysis/calibrate.h"

namespace moqa::pipeline {

struct RunContext;
struct RankModel;

// The calibration engine's view of this run: the rank's model and experts, the run's batching, progress line
// and hidden-state budget (runtime.hidden_state_memory_mib, scratch file in output_dir). One definition for
// the calibrate stage and the allocate stage's novel-distribution profile, so both measure alike.
analysis::CalibrationWorld calibration_world(RunContext& context, RankModel& model);

// With runtime.resume, the statistics of the earlier run in experiment.output_dir are reused when they
// qualify (reuse_calibration); otherwise they are computed.
void run_calibrate_stage(RunContext& context);

// runtime.resume (pipeline/resume/calibration_reuse.h): rank 0 looks for the earlier run's statistics and says in one
// line of the log whether it reuses them, and if not why. Collective. True when reused: then
// RunContext::calibration is set exactly as the calibrate stage would have set it (complete on rank 0, the
// distributions' metadata on the others) and /analysis is written, with the reuse attributes.
bool reuse_calibration(RunContext& context);

}  // namespace moqa::pipeline
