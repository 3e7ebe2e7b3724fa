#pragma once
// The run's summary next to results.h5: results.json (machine-readable: experiment, sweep assignments,
// provenance, model, allocation, every metric, averages per known/novel group, wall time per stage) and
// results.md (the same content as tables shaped like PAPER.md Tables I-III). The markdown is rendered
// from the JSON object, so the two never disagree; both carry the numbers results.h5 /metrics holds.
// docs/FORMATS.md ("results.json and results.md") documents every field.
//
// The driver renders both before it commits results.h5 (rendering can fail), removes an earlier run's
// pair, commits results.h5 and only then writes the pair: a results.json only ever stands next to the
// results.h5 it describes.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/driver.h"
#include "pipeline/results_file.h"

namespace moqa::pipeline {

// The results.json document. `utc_finish` and `wall_time_s` describe the whole run.
nlohmann::ordered_json summarize_run(const RunContext& context, const ResultsFile& file, const std::string& utc_finish,
                                     double wall_time_s);

// results.md from a results.json document.
std::string render_markdown(const nlohmann::ordered_json& summary);

// Both documents as text. `utc_finish` is the run's finish time; the wall time runs until now.
struct RunSummary {
  std::string json;
  std::string markdown;
};
RunSummary render_run_summary(const RunContext& context, const ResultsFile& file, const std::string& utc_finish);

struct SummaryFiles {
  std::filesystem::path json;
  std::filesystem::path markdown;
};
SummaryFiles summary_files(const std::filesystem::path& output_dir);

// Rank 0: removes <output_dir>/results.json and results.md if an earlier run left them. Throws when one
// cannot be removed.
void remove_run_summary(const std::filesystem::path& output_dir);

// Rank 0: writes <output_dir>/results.json and results.md, each atomically (temporary name, then rename).
SummaryFiles write_run_summary(const std::filesystem::path& output_dir, const RunSummary& summary);

}  // namespace moqa::pipeline
