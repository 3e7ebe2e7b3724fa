#pragma once
// What a run is going to do, in words: --dry-run's report (resolved configuration, model summary,
// datasets, expert-to-rank plan, stages with their key options) and the sweep run list.
#include <iosfwd>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "config/sweep.h"

namespace moqa::pipeline {

// The key options of one stage on one line, e.g. "gptq, group 128, asymmetric, ...".
std::string stage_summary(const config::Experiment& experiment, config::Stage stage);

// "index  suffix  assignments" for every run of a sweep.
std::string format_sweep_runs(const std::vector<config::SweepRun>& runs);

// The full dry-run report for `world_size` ranks. Reads the model's config.json; throws moqa::Error
// when it cannot be read or is not a supported model.
void print_plan(std::ostream& out, const config::Experiment& experiment, int world_size,
                const std::vector<config::SweepRun>& runs);

}  // namespace moqa::pipeline
