#pragma once
// The experiment's [allocation] and [analysis] keys mapped onto the allocate module's options
// (docs/CONFIG.md names the keys, docs/ALLOCATION.md §6 the options).
#include "allocate/allocation.h"
#include "allocate/channel_plan.h"
#include "config/experiment.h"

namespace moqa::pipeline {

// uniform: uniform_bits = target_bits (the width itself). moqa: the fuzzy c-means seed is derived from
// experiment.seed (data::derive_seed(seed, "allocation/fcm")), so one seed fixes every random choice of a run.
allocate::AllocationOptions allocation_options(const config::Experiment& experiment);

// analysis.channel_fraction and analysis.channel_measure.
allocate::ChannelPlanOptions channel_plan_options(const config::AnalysisSection& analysis);

}  // namespace moqa::pipeline
