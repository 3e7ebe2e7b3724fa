#pragma once
// Experiment TOML -> validated Experiment. Every problem of the file (syntax, unknown keys, wrong
// types, missing files, impossible values, inconsistent keys, invalid sweep runs) is collected and
// thrown together as one ConfigError, each line "<file>:<line>:<column>: <dotted.key>: <found>, expected <what>".
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"
#include "config/experiment.h"
#include "config/override.h"

namespace moqa::config {

struct ParseOptions {
  std::vector<Override> overrides;  // applied in order on top of the file (later ones win)
  bool check_paths = true;          // false: resolve paths but do not require them to exist
  std::filesystem::path cwd;        // for --set paths and the default output_dir; empty = current directory
};

// Parses `text` as if it were the content of `file` (named in messages; relative paths resolve against
// its directory). A [sweep] table is read into Experiment::sweep but not expanded.
Experiment parse_experiment(std::string_view text, const std::filesystem::path& file,
                            const ParseOptions& options = {});

// The whole file as text; ConfigError "<file>: cannot read ..." when it cannot be read.
std::string read_experiment_text(const std::filesystem::path& file);

// Reads and parses `file`; when it has a [sweep], every run of the sweep is validated as well.
Experiment load_experiment(const std::filesystem::path& file, const ParseOptions& options = {});

}  // namespace moqa::config
