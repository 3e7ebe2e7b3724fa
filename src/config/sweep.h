#pragma once
// [sweep] "dotted.key" = [values...]: the cartesian product of all axes, one run per combination.
// Order (deterministic): axes in the order their keys appear in the file; the first axis varies
// slowest and the last fastest, like nested loops; values in the order written. Run i of N is what
// `moqa-pipeline sweep EXPERIMENT.toml --index i` (a Slurm array task) runs.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/experiment.h"
#include "config/load.h"
#include "config/override.h"

namespace moqa::config {

struct SweepRun {
  int64_t index = 0;
  std::vector<Override> overrides;  // one per axis, in axis order
  std::string suffix;               // "target_bits-2.5_method-rtn": appended to output_dir
};

// All runs of `experiment.sweep` (a single empty run when there is no sweep).
std::vector<SweepRun> expand_sweep(const Experiment& experiment);

// One run: the file with the run's assignments applied, then options.overrides (so --set wins).
// The result has no sweep, `run` filled in and output_dir = <output_dir>/<suffix>.
Experiment parse_sweep_run(std::string_view text, const std::filesystem::path& file, const ParseOptions& options,
                           const SweepRun& run, int64_t run_count);

// Parses every run; throws one ConfigError whose lines each start with the run they belong to.
void validate_sweep_runs(std::string_view text, const std::filesystem::path& file, const ParseOptions& options,
                         const Experiment& base);

}  // namespace moqa::config
