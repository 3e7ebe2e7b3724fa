#include "app/driver.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "app/plan.h"
#include "app/results_file.h"
#include "app/results_summary.h"
#include "app/stage_allocate.h"
#include "app/stage_calibrate.h"
#include "app/stage_evaluate.h"
#include "app/stage_quantize.h"

namespace moqa::app {

std::span<const StageEntry> stage_registry() {
  // One entry per implemented stage, e.g. {config::Stage::calibrate, &analysis::run_calibrate_stage}.
  static const std::vector<StageEntry> entries = {
      {config::Stage::calibrate, &run_calibrate_stage},
      {config::Stage::allocate, &run_allocate_stage},
      {config::Stage::quantize, &run_quantize_stage},
      {config::Stage::evaluate, &run_evaluate_stage},
  };
  return entries;
}

namespace {

// /provenance/stage_names and stage_wall_time_s: the stages that ran and rank 0's wall time of each.
void write_stage_times(io::H5Writer& w, const std::vector<StageTime>& times) {
  std::vector<std::string> names;
  std::vector<double> seconds;
  for (const StageTime& t : times) {
    names.emplace_back(config::name_of(t.stage));
    seconds.push_back(t.seconds);
  }
  w.write_strings("/provenance/stage_names", names);
  w.write("/provenance/stage_wall_time_s", seconds, Shape{static_cast<int64_t>(seconds.size())});
}

}  // namespace

void run_stages(RunContext& context) {
  const auto& e = context.experiment;
  const auto registry = stage_registry();
  context.log << "moqa-pipeline: experiment \"" << e.experiment.name << "\""
              << (e.run.index >= 0 ? cat(", sweep run ", e.run.index, " of ", e.run.count, " (", e.run.suffix, ")") : "")
              << " on " << context.session.size() << (context.session.size() == 1 ? " rank" : " ranks") << " -> "
              << e.experiment.output_dir.string() << "\n";
  ResultsFile results = open_results_file(e, context.session);
  context.results = results.writer ? &*results.writer : nullptr;
  for (const config::Stage stage : e.experiment.stages) {
    const auto entry = std::find_if(registry.begin(), registry.end(),
                                    [&](const StageEntry& s) { return s.stage == stage && s.run != nullptr; });
    context.log << "stage " << config::name_of(stage) << ": " << stage_summary(e, stage) << "\n";
    if (entry == registry.end()) {
      context.log << "stage " << config::name_of(stage) << ": not implemented yet, skipped\n";
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    entry->run(context);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    context.stage_times.push_back({stage, seconds});
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.1f s", seconds);
    context.log << "stage " << config::name_of(stage) << ": done in " << elapsed << "\n";
  }
  context.results = nullptr;
  if (results.writer) {
    write_stage_times(*results.writer, context.stage_times);
    context.log << "results: " << commit_results_file(results) << "\n";
    // After results.h5: a results.json always stands next to a complete results.h5.
    const SummaryFiles summary = write_run_summary(context, results);
    context.log << "results: " << summary.json.string() << "\nresults: " << summary.markdown.string() << "\n";
  }
  context.log.flush();
}

}  // namespace moqa::app
