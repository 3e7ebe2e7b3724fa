#pragma once
// The command line of moqa-pipeline (Boost.Program_options):
//   moqa-pipeline EXPERIMENT.toml [--set KEY=VALUE ...] [--dry-run [--ranks N]] [--output DIR]
//   moqa-pipeline sweep EXPERIMENT.toml (--list | --index N) [the options above]
// Parsing is pure (no MPI, no files): every rank parses the same argv to the same CliOptions.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace moqa::app {

enum class Command { run, sweep, help, version };

struct CliOptions {
  Command command = Command::run;
  std::filesystem::path experiment;
  std::vector<std::string> sets;               // "key=value", in command-line order
  bool dry_run = false;
  std::optional<std::filesystem::path> output;  // --output: overrides experiment.output_dir
  std::optional<int> ranks;                     // --ranks: world size of the previewed plan
  bool list_runs = false;                       // sweep --list
  std::optional<int64_t> run_index;             // sweep --index
};

// A command line that cannot be understood; moqa-pipeline prints it with a hint and exits 2.
class UsageError : public moqa::Error {
 public:
  using moqa::Error::Error;
};

CliOptions parse_command_line(int argc, const char* const* argv);

std::string help_text();     // --help: stages, result files, every option, examples, exit codes
std::string version_text();  // --version: version, git commit, build type, compiler, CUDA

}  // namespace moqa::app
