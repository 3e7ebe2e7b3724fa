#include "pipeline/driver.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "pipeline/allocate/stage_allocate.h"
#include "pipeline/calibrate/stage_calibrate.h"
#include "pipeline/dry_run_report.h"
#include "pipeline/evaluate/stage_evaluate.h"
#include "pipeline/quantize/stage_quantize.h"
#include "pipeline/rank_model.h"
#include "pipeline/results_file.h"
#include "pipeline/results_summary.h"

namespace moqa::pipeline {
namespace {

void run_stage(config::Stage stage, RunContext& context) {
  switch (stage) {
    case config::Stage::calibrate:
      return run_calibrate_stage(context);
    case config::Stage::allocate:
      return run_allocate_stage(context);
    case config::Stage::quantize:
      return run_quantize_stage(context);
    case config::Stage::evaluate:
      return run_evaluate_stage(context);
  }
  fail("run_stages: unknown stage ", static_cast<int>(stage));
}

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
  context.log << "moqa-pipeline: experiment \"" << e.experiment.name << "\""
              << (e.run.index >= 0 ? cat(", sweep run ", e.run.index, " of ", e.run.count, " (", e.run.suffix, ")") : "")
              << " on " << context.session.size() << (context.session.size() == 1 ? " rank" : " ranks") << " -> "
              << e.experiment.output_dir.string() << "\n";
  if (const std::string warning = thread_binding_warning(e.runtime.threads, usable_cores()); !warning.empty())
    std::cerr << "moqa-pipeline: rank " << context.session.rank() << ": " << warning << "\n";
  ResultsFile results = open_results_file(e, context.session);
  context.results = results.writer ? &*results.writer : nullptr;
  for (const config::Stage stage : e.experiment.stages) {
    context.log << "stage " << config::name_of(stage) << ": " << stage_summary(e, stage) << "\n";
    const auto start = std::chrono::steady_clock::now();
    run_stage(stage, context);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    context.stage_times.push_back({stage, seconds});
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.1f s", seconds);
    context.log << "stage " << config::name_of(stage) << ": done in " << elapsed << "\n";
  }
  context.results = nullptr;
  if (results.writer) {
    write_stage_times(*results.writer, context.stage_times);
    // Whatever can fail comes before the first rename, and an earlier run's results.json / results.md go
    // before its results.h5 is replaced: the pair only ever stands next to the results.h5 it describes.
    const std::string utc_finish = utc_now();
    const RunSummary summary = render_run_summary(context, results, utc_finish);
    const std::filesystem::path& dir = e.experiment.output_dir;
    remove_run_summary(dir);
    context.log << "results: " << commit_results_file(results, utc_finish) << "\n";
    const SummaryFiles files = write_run_summary(dir, summary);
    context.log << "results: " << files.json.string() << "\nresults: " << files.markdown.string() << "\n";
  }
  context.log.flush();
}

}  // namespace moqa::pipeline
