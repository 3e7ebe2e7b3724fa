#include "config/load.h"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "config/paths.h"
#include "config/read.h"
#include "config/read_context.h"
#include "config/sweep.h"
#include "config/validate.h"

namespace moqa::config {

Experiment parse_experiment(std::string_view text, const std::filesystem::path& file, const ParseOptions& options) {
  const std::filesystem::path cwd = options.cwd.empty() ? std::filesystem::current_path() : options.cwd;
  const std::string label = file.string();
  const std::filesystem::path file_dir = resolve_path(file, cwd).parent_path();

  toml::table doc;
  try {
    doc = toml::parse(text, std::string(label));
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError({cat(label, ":", at.line, ":", at.column, ": TOML syntax error: ", e.description())});
  }

  Diagnostics diagnostics;
  ReadContext context(diagnostics, label, file_dir, cwd, options.check_paths);
  for (const Override& override : options.overrides) {
    context.add_origin(override.origin, Origin{override.origin, override.base_dir, false});
    try {
      apply_override(doc, override);
    } catch (const ConfigError& e) {
      for (const auto& message : e.messages()) diagnostics.add(Location{override.origin}, message);
    }
  }

  Experiment experiment;
  experiment.config_file = resolve_path(file, cwd);
  read_document(doc, experiment, context);
  experiment.sweep = read_sweep(doc, context);
  resolve_and_validate(experiment, context);
  diagnostics.throw_if_any();
  return experiment;
}

std::string read_experiment_text(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw ConfigError({cat(file.string(), ": cannot read the experiment: ",
                           std::filesystem::exists(file, ec) ? "not a regular file" : "no such file")});
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError({cat(file.string(), ": cannot read the experiment: cannot open it (permissions?)")});
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError({cat(file.string(), ": cannot read the experiment: read error")});
  return text.str();
}

Experiment load_experiment(const std::filesystem::path& file, const ParseOptions& options) {
  const std::string text = read_experiment_text(file);
  Experiment experiment = parse_experiment(text, file, options);
  if (!experiment.sweep.empty()) validate_sweep_runs(text, file, options, experiment);
  return experiment;
}

}  // namespace moqa::config
