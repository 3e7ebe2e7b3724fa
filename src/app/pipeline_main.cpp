#include "app/pipeline_main.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "app/cli.h"
#include "config/load.h"
#include "config/sweep.h"
#include "dist/mpi_session.h"
#include "io/hf_config.h"
#include "pipeline/driver.h"
#include "pipeline/dry_run_report.h"
#include "plan/memory_plan.h"

namespace moqa::app {
namespace {

// The memory plan of `experiment` on `ranks` ranks, for a rank that shares its node with `ranks_on_node`.
plan::MemoryPlan memory_plan(const config::Experiment& experiment, int ranks, int local_rank, int ranks_on_node) {
  const config::RuntimeSection& r = experiment.runtime;
  return plan::plan_memory(experiment, load_hf_config(experiment.model.path / "config.json"), ranks,
                           plan::memory_target(r.memory_limit, r.hidden_state_memory_mib, r.device, local_rank,
                                               ranks_on_node));
}

constexpr int kExitUsage = 2;

struct Configuration {
  std::string text;                // the experiment file as rank 0 read it
  config::ParseOptions options;    // --set and --output, identical on every rank
  config::Experiment base;         // the experiment (with its [sweep], if any)
  std::vector<config::SweepRun> runs;
};

config::ParseOptions parse_options(const CliOptions& cli) {
  config::ParseOptions options;
  options.cwd = std::filesystem::current_path();
  for (const auto& set : cli.sets) options.overrides.push_back(config::parse_assignment(set, options.cwd));
  if (cli.output)
    options.overrides.push_back(config::Override{"experiment.output_dir", cli.output->string(),
                                                 cat("--output ", cli.output->string()), options.cwd});
  return options;
}

void print_config_errors(const config::ConfigError& error, const std::filesystem::path& file) {
  for (const auto& message : error.messages()) std::cerr << message << "\n";
  const size_t n = error.messages().size();
  std::cerr << "moqa-pipeline: " << n << (n == 1 ? " error" : " errors") << " in " << file.string()
            << "; nothing was run\n";
}

// Rank 0 reads and validates (every sweep run included) and broadcasts the verdict and the text; the
// other ranks rebuild the same Experiment from the same text, so no rank needs to read the file.
std::optional<Configuration> load_configuration(const dist::MpiSession& session, const CliOptions& cli) {
  Configuration c;
  std::string verdict;  // empty: valid; else the errors, already printed by rank 0
  try {
    c.options = parse_options(cli);
    if (session.is_root()) {
      c.text = config::read_experiment_text(cli.experiment);
      c.base = config::parse_experiment(c.text, cli.experiment, c.options);
      if (!c.base.sweep.empty()) config::validate_sweep_runs(c.text, cli.experiment, c.options, c.base);
    }
  } catch (const config::ConfigError& e) {
    verdict = e.what();
    if (session.is_root()) print_config_errors(e, cli.experiment);
  } catch (const std::exception& e) {
    // Anything else (out of memory, a file system error) must not leave the other ranks waiting below.
    session.abort(cat("reading ", cli.experiment.string(), ": ", e.what()));
  }
  verdict = dist::broadcast_string(session.world(), verdict);
  if (!verdict.empty()) return std::nullopt;
  c.text = dist::broadcast_string(session.world(), c.text);
  if (!session.is_root()) {
    try {
      c.base = config::parse_experiment(c.text, cli.experiment, c.options);
    } catch (const config::ConfigError& e) {
      session.abort(cat("the experiment that is valid on rank 0 is not valid here (files or environment differ "
                        "between nodes?):\n", e.what()));
    } catch (const std::exception& e) {
      session.abort(cat("reading ", cli.experiment.string(), ": ", e.what()));
    }
  }
  c.runs = config::expand_sweep(c.base);
  return c;
}

// The runs the command selects: all of them, or `sweep --index N`.
std::vector<config::SweepRun> selected_runs(const Configuration& c, const CliOptions& cli) {
  if (!cli.run_index) return c.runs;
  if (*cli.run_index >= static_cast<int64_t>(c.runs.size()))
    throw UsageError(cat("--index ", *cli.run_index, ": ", cli.experiment.string(), " has ", c.runs.size(),
                         c.runs.size() == 1 ? " run" : " runs", " (indices 0..", c.runs.size() - 1, ")"));
  return {c.runs[static_cast<size_t>(*cli.run_index)]};
}

config::Experiment build_run(const Configuration& c, const CliOptions& cli, const config::SweepRun& run) {
  if (c.base.sweep.empty()) return c.base;
  return config::parse_sweep_run(c.text, cli.experiment, c.options, run, static_cast<int64_t>(c.runs.size()));
}

}  // namespace

int pipeline_main(int argc, char** argv) {
  dist::MpiSession session(argc, argv);
  const bool root = session.is_root();

  CliOptions cli;
  try {
    cli = parse_command_line(argc, argv);
  } catch (const UsageError& e) {
    if (root) std::cerr << "moqa-pipeline: " << e.what() << "\nTry 'moqa-pipeline --help'.\n";
    return kExitUsage;
  }
  if (cli.command == Command::help || cli.command == Command::version) {
    if (root) std::cout << (cli.command == Command::help ? help_text() : version_text());
    return 0;
  }

  const std::optional<Configuration> configuration = load_configuration(session, cli);
  if (!configuration) return kExitUsage;

  std::vector<config::SweepRun> runs;
  try {
    runs = selected_runs(*configuration, cli);
  } catch (const UsageError& e) {
    if (root) std::cerr << "moqa-pipeline: " << e.what() << "\n";
    return kExitUsage;
  }

  if (cli.list_runs) {
    if (root)
      std::cout << configuration->runs.size() << (configuration->runs.size() == 1 ? " run of " : " runs of ")
                << cli.experiment.string() << ":\n"
                << pipeline::format_sweep_runs(configuration->runs);
    return 0;
  }

  if (cli.dry_run) {
    if (!root) return 0;
    try {
      // A single selected run of a sweep is shown as that run; otherwise the base experiment.
      const config::Experiment shown =
          cli.run_index ? build_run(*configuration, cli, runs.front()) : configuration->base;
      pipeline::print_plan(std::cout, shown, cli.ranks.value_or(session.size()), configuration->runs);
      const int ranks = cli.ranks.value_or(session.size());
      std::cout << "\n" << plan::format_memory_plan(memory_plan(shown, ranks, 0, std::min(ranks, session.local_size())));
    } catch (const std::exception& e) {
      std::cerr << "moqa-pipeline: " << e.what() << "\n";
      return kExitUsage;
    }
    return 0;
  }

  std::ostream sink(nullptr);
  try {
    for (const auto& run : runs) {
      const config::Experiment experiment = build_run(*configuration, cli, run);
      // Refused here, before any weight is read, when some rank's plan does not fit runtime.memory_limit.
      const ModelConfig model = load_hf_config(experiment.model.path / "config.json");
      plan::check_memory_plan(memory_plan(experiment, session.size(), session.local_rank(), session.local_size()),
                              experiment, model);
      pipeline::RunContext context{experiment, session, root ? std::cout : sink};
      pipeline::run_stages(context);
    }
  } catch (const std::exception& e) {
    session.abort(e.what());
  }
  return 0;
}

}  // namespace moqa::app
