#pragma once
// The run's summary next to results.h5: results.json (machine-readable: experiment, sweep assignments,
// provenance, model, allocation, every metric, averages per known/novel group, wall time per stage) and
// results.md (the same content as tables shaped like PAPER.md Tables I-III). The markdown is rendered
// from the JSON object, so the two never disagree; both carry the numbers results.h5 /metrics holds.
// docs/FORMATS.md ("results.json and results.md") documents every field.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "app/driver.h"
#include "app/results_file.h"

namespace moqa::app {

// The results.json document. `utc_finish` and `wall_time_s` describe the whole run.
nlohmann::ordered_json summarize_run(const RunContext& context, const ResultsFile& file, const std::string& utc_finish,
                                     double wall_time_s);

// results.md from a results.json document.
std::string render_markdown(const nlohmann::ordered_json& summary);

struct SummaryFiles {
  std::filesystem::path json;
  std::filesystem::path markdown;
};

// Rank 0: writes <output_dir>/results.json and results.md, each atomically (temporary name, then rename).
SummaryFiles write_run_summary(const RunContext& context, const ResultsFile& file);

}  // namespace moqa::app
