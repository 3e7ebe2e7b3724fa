#include "config/sweep.h"

#include <map>


namespace moqa::config {
namespace {

// Directory-safe spelling of a value: strings without quotes, anything outside [A-Za-z0-9._+-] as '_'.
std::string suffix_value(std::string literal) {
  if (literal.size() >= 2 && literal.front() == '"' && literal.back() == '"')
    literal = literal.substr(1, literal.size() - 2);
  std::string out;
  for (const char c : literal) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '+' || c == '-';
    if (safe) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "_" : out;
}

std::string last_component(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string assignments_text(const SweepRun& run) {
  std::string out;
  for (const auto& o : run.overrides) out += cat(out.empty() ? "" : ", ", o.key, "=", o.value);
  return out;
}

}  // namespace

std::vector<SweepRun> expand_sweep(const Experiment& experiment) {
  const auto& axes = experiment.sweep;
  const std::filesystem::path base_dir = experiment.config_file.parent_path();  // values were written there

  // The last key component names an axis in the suffix unless two axes share it.
  std::map<std::string, int> uses;
  for (const auto& axis : axes) ++uses[last_component(axis.key)];

  size_t count = 1;
  for (const auto& axis : axes) count *= axis.values.size();
  std::vector<SweepRun> runs(count);
  for (size_t index = 0; index < count; ++index) {
    SweepRun& run = runs[index];
    run.index = static_cast<int64_t>(index);
    // Mixed-radix digits of `index`, last axis least significant.
    std::vector<size_t> choice(axes.size());
    size_t rest = index;
    for (size_t a = axes.size(); a-- > 0;) {
      choice[a] = rest % axes[a].values.size();
      rest /= axes[a].values.size();
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      const auto& axis = axes[a];
      const size_t v = choice[a];
      run.overrides.push_back(Override{axis.key, axis.values[v], axis.origins.at(v), base_dir});
      const std::string name = uses[last_component(axis.key)] > 1 ? axis.key : last_component(axis.key);
      run.suffix += cat(run.suffix.empty() ? "" : "_", name, "-", suffix_value(axis.values[v]));
    }
  }
  return runs;
}

Experiment parse_sweep_run(std::string_view text, const std::filesystem::path& file, const ParseOptions& options,
                           const SweepRun& run, int64_t run_count) {
  ParseOptions run_options = options;
  run_options.overrides = run.overrides;
  run_options.overrides.insert(run_options.overrides.end(), options.overrides.begin(), options.overrides.end());
  Experiment experiment = parse_experiment(text, file, run_options);
  experiment.sweep.clear();
  experiment.run.index = run.index;
  experiment.run.count = run_count;
  experiment.run.suffix = run.suffix;
  for (const auto& o : run.overrides) experiment.run.assignments.emplace_back(o.key, o.value);
  if (!run.suffix.empty()) experiment.experiment.output_dir /= run.suffix;
  return experiment;
}

void validate_sweep_runs(std::string_view text, const std::filesystem::path& file, const ParseOptions& options,
                         const Experiment& base) {
  const auto runs = expand_sweep(base);
  // The same problem usually shows up in many runs: report it once with the runs it occurs in.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const SweepRun*>> seen_in;
  for (const auto& run : runs) {
    try {
      (void)parse_sweep_run(text, file, options, run, static_cast<int64_t>(runs.size()));
    } catch (const ConfigError& e) {
      for (const auto& message : e.messages()) {
        auto& list = seen_in[message];
        if (list.empty()) order.push_back(message);
        list.push_back(&run);
      }
    }
  }
  if (order.empty()) return;
  std::vector<std::string> messages;
  for (const auto& message : order) {
    const auto& list = seen_in[message];
    std::string where = cat(" [sweep run ", list.front()->index, " of ", runs.size(), ": ",
                            assignments_text(*list.front()));
    if (list.size() > 1) where += cat("; and ", list.size() - 1, " more run", list.size() > 2 ? "s" : "");
    messages.push_back(message + where + "]");
  }
  throw ConfigError(std::move(messages));
}

}  // namespace moqa::config
