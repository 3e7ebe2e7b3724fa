#include "app/cli.h"

#include <boost/program_options.hpp>

#include <sstream>

#include "core/build_info.h"

namespace moqa::app {
namespace po = boost::program_options;
namespace {

po::options_description visible_options() {
  po::options_description options("Options", 100, 50);
  // clang-format off
  options.add_options()
    ("help,h", "Print this help and exit.")
    ("version,V", "Print the version and the git commit this binary was built from, and exit.")
    ("set,s", po::value<std::vector<std::string>>()->composing()->value_name("KEY=VALUE"),
     "Override one key of the experiment, e.g. --set allocation.target_bits=2.5 or "
     "--set calibration.0.samples=8 (array-of-tables entries by index). VALUE is read as a TOML value; "
     "a bare word is a string. Repeatable; later ones win. Relative paths in VALUE are relative to the "
     "working directory.")
    ("dry-run,n", po::bool_switch(), "Validate, print the resolved plan (configuration, model summary, datasets, "
     "expert-to-rank plan, stages) and exit without computing anything.")
    ("output,o", po::value<std::string>()->value_name("DIR"),
     "Write results to DIR (relative to the working directory) instead of experiment.output_dir, e.g. "
     "--output /scratch/run1. Each run of a sweep writes to its own folder DIR/<run name>.")
    ("ranks", po::value<int>()->value_name("N"),
     "With --dry-run: show the expert-to-rank plan for N ranks instead of the MPI world size, e.g. "
     "--dry-run --ranks 8 before submitting an 8-rank job.")
    ("list", po::bool_switch(), "With 'sweep': print the runs of the [sweep] table (index, name, assignments), "
     "e.g. to size a Slurm job array.")
    ("index", po::value<int64_t>()->value_name("N"),
     "With 'sweep': run only run N of the sweep (0-based; for Slurm job arrays: --index $SLURM_ARRAY_TASK_ID).");
  // clang-format on
  return options;
}

}  // namespace

CliOptions parse_command_line(int argc, const char* const* argv) {
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(visible_options()).add(hidden);
  po::positional_options_description positional;
  positional.add("positional", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }

  CliOptions cli;
  if (vm.count("help")) {
    cli.command = Command::help;
    return cli;
  }
  if (vm.count("version")) {
    cli.command = Command::version;
    return cli;
  }

  std::vector<std::string> args;
  if (vm.count("positional")) args = vm["positional"].as<std::vector<std::string>>();
  if (!args.empty() && args.front() == "sweep") {
    cli.command = Command::sweep;
    args.erase(args.begin());
  }
  if (args.empty()) throw UsageError("missing the experiment file (EXPERIMENT.toml)");
  if (args.size() > 1) throw UsageError(cat("unexpected argument '", args[1], "' after ", args[0]));
  cli.experiment = args.front();

  if (vm.count("set")) cli.sets = vm["set"].as<std::vector<std::string>>();
  cli.dry_run = vm["dry-run"].as<bool>();
  if (vm.count("output")) cli.output = vm["output"].as<std::string>();
  if (vm.count("ranks")) {
    cli.ranks = vm["ranks"].as<int>();
    if (*cli.ranks < 1) throw UsageError(cat("--ranks ", *cli.ranks, ": expected at least 1"));
    if (!cli.dry_run) throw UsageError("--ranks only previews a plan: use it with --dry-run (mpirun -np N sets the real rank count)");
  }
  cli.list_runs = vm["list"].as<bool>();
  if (vm.count("index")) {
    cli.run_index = vm["index"].as<int64_t>();
    if (*cli.run_index < 0) throw UsageError(cat("--index ", *cli.run_index, ": expected a run index >= 0"));
  }
  const bool sweep_option = cli.list_runs || cli.run_index;
  if (cli.command != Command::sweep && sweep_option)
    throw UsageError("--list and --index belong to the sweep command: moqa-pipeline sweep EXPERIMENT.toml --list");
  if (cli.command == Command::sweep && cli.list_runs == cli.run_index.has_value())
    throw UsageError("the sweep command needs exactly one of --list or --index N");
  return cli;
}

std::string help_text() {
  std::ostringstream out;
  out << "moqa-pipeline: distribution-aware mixed-precision quantization of Mixture-of-Experts LLMs (MoQa)\n"
         "\n"
         "Usage:\n"
         "  moqa-pipeline EXPERIMENT.toml [--set KEY=VALUE ...] [--dry-run [--ranks N]] [--output DIR]\n"
         "  moqa-pipeline sweep EXPERIMENT.toml (--list | --index N) [--set ...] [--dry-run] [--output DIR]\n"
         "  mpirun -np R moqa-pipeline EXPERIMENT.toml ...     (R ranks share the routed experts)\n"
         "\n"
         "EXPERIMENT.toml describes the model, calibration and evaluation data and the stages to run\n"
         "(every key: docs/CONFIG.md). Rank 0 reads and validates it; every problem is reported at once as\n"
         "FILE:LINE:COLUMN: KEY: found ..., expected ...\n"
         "An experiment with a [sweep] table runs every combination in turn, or one with 'sweep --index N'.\n"
         "\n"
         "Stages (experiment.stages; always in this order, every rank taking part):\n"
         "  calibrate  MoQa's statistics (expert activation, significance, co-activation) over every\n"
         "             [[calibration]] distribution\n"
         "  allocate   one bit width per routed expert ([allocation] method, target_bits)\n"
         "  quantize   the weights at those widths (GPTQ or RTN); optionally the quantized checkpoint\n"
         "  evaluate   perplexity / zero-shot accuracy of the full-precision and the quantized model on\n"
         "             every [[evaluation]] set\n"
         "Rank 0 prints each stage's progress (done/total, tokens/s, ETA) to stdout.\n"
         "\n"
         "Results, in experiment.output_dir (default results/<experiment name>; --output DIR):\n"
         "  results.h5     everything: provenance (configuration, git commit, seed), /analysis,\n"
         "                 /allocation, /quantization, /metrics (docs/FORMATS.md)\n"
         "  results.json   the summary: metrics, bits, provenance (scripts/collect.py tabulates runs)\n"
         "  results.md     the same as tables\n"
         "  quantized-model/, dequantized-model/   with [quantization] save_checkpoint / export_dequantized\n"
         "The results.* files of a run appear only once every stage has succeeded.\n"
         "\n"
      << visible_options()
      << "\n"
         "Examples:\n"
         "  moqa-pipeline experiments/quickstart.toml --dry-run\n"
         "  moqa-pipeline experiments/quickstart.toml --dry-run --ranks 4\n"
         "  mpirun -np 2 moqa-pipeline experiments/quickstart.toml\n"
         "  moqa-pipeline experiments/quickstart.toml --set allocation.target_bits=2.5 --set quantization.method=rtn\n"
         "  moqa-pipeline experiments/quickstart.toml --set calibration.0.samples=8 --output /tmp/qs\n"         "  moqa-pipeline experiments/quickstart.toml --set 'experiment.stages=[\"calibrate\"]'   (statistics only)\n"
         "  moqa-pipeline experiments/quickstart.toml --set 'experiment.stages=[\"evaluate\"]'    (the FP model only)\n"
         "  moqa-pipeline sweep my_sweep.toml --list\n"
         "  srun moqa-pipeline sweep my_sweep.toml --index $SLURM_ARRAY_TASK_ID\n"
         "\n"
         "Exit status:\n"
         "  0  success (including --help, --version, --dry-run, sweep --list)\n"
         "  1  run-time failure (a failing rank aborts the whole job: \"moqa: rank R: <reason>\")\n"
         "  2  usage or configuration error (nothing was run)\n";
  return out.str();
}

std::string version_text() {
  return cat("moqa-pipeline ", build_info::version, " (git ", build_info::git_commit, ", ", build_info::build_type,
             ", ", build_info::compiler, ", CUDA ", build_info::cuda ? "enabled" : "disabled", ")\n");
}

}  // namespace moqa::app
