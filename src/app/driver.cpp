#include "app/driver.h"

#include <algorithm>
#include <ostream>
#include <vector>

#include "app/plan.h"
#include "app/results_file.h"
#include "app/stage_calibrate.h"

namespace moqa::app {

std::span<const StageEntry> stage_registry() {
  // One entry per implemented stage, e.g. {config::Stage::calibrate, &analysis::run_calibrate_stage}.
  static const std::vector<StageEntry> entries = {
      {config::Stage::calibrate, &run_calibrate_stage},
  };
  return entries;
}

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
    entry->run(context);
  }
  context.results = nullptr;
  if (results.writer) context.log << "results: " << commit_results_file(results) << "\n";
  context.log.flush();
}

}  // namespace moqa::app
