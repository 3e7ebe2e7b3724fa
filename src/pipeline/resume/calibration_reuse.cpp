#include "pipeline/resume/calibration_reuse.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "analysis/results_reader.h"
#include "config/to_toml.h"
#include "core/error.h"
#include "io/hdf5_file.h"
#include "io/hf_config.h"
#include "pipeline/resume/resume_key.h"

namespace moqa::pipeline {
namespace fs = std::filesystem;

namespace {

std::string string_attribute(const io::H5Reader& file, const std::string& object, const std::string& name) {
  MOQA_CHECK(file.has_attribute(object, name), file.path().string(), ": ", object, ": attribute \"", name,
             "\" is missing");
  return file.attribute_string(object, name);
}

std::optional<ReusableCalibration> read_reusable(const io::H5Reader& file, const config::Experiment& e,
                                                 const dist::MpiSession& session, std::string& why_not) {
  const std::string path = file.path().string();
  // Only a committed results.h5 carries the finish time (pipeline/results_file.h).
  const std::string utc_finish = string_attribute(file, "/provenance", "utc_finish");
  if (!file.is_group("/analysis")) {
    why_not = cat(path, " holds no statistics (that run had no calibrate stage)");
    return std::nullopt;
  }
  MOQA_CHECK(file.has_attribute("/provenance", "ranks"), path, ": /provenance: attribute \"ranks\" is missing");
  const RunFacts earlier{.config_toml = file.read_string("/provenance/config_toml"),
                         .ranks = file.attribute_int64("/provenance", "ranks"),
                         .backend = string_attribute(file, "/analysis", "backend"),
                         .files = read_input_stamps(file)};
  const RunFacts now{.config_toml = config::to_toml(e),
                     .ranks = session.size(),
                     .backend = backend_description(e, session),
                     .files = input_file_stamps(e)};
  why_not = first_difference(statistics_key(earlier, e), statistics_key(now, e));
  if (!why_not.empty()) return std::nullopt;

  std::vector<std::string> names;
  for (const config::CalibrationSet& set : e.calibration) names.push_back(set.name);
  ReusableCalibration out;
  out.result = analysis::read_calibration(file, names, e.analysis, load_hf_config(e.model.path / "config.json"));
  out.origin.file = path;
  out.origin.utc_finish = utc_finish;
  out.origin.computed_git_commit = file.has_attribute("/analysis", "computed_git_commit")
                                       ? file.attribute_string("/analysis", "computed_git_commit")
                                       : string_attribute(file, "/provenance", "git_commit");
  out.origin.backend = earlier.backend;
  return out;
}

}  // namespace

std::filesystem::path statistics_folder(const config::Experiment& e) {
  return e.runtime.statistics_from.empty() ? e.experiment.output_dir : e.runtime.statistics_from;
}

std::optional<ReusableCalibration> find_reusable_calibration(const config::Experiment& e,
                                                             const dist::MpiSession& session, std::string& why_not) {
  const fs::path dir = statistics_folder(e);
  const fs::path path = dir / "results.h5";
  std::error_code ec;
  if (e.calibration.empty()) {
    why_not = "the experiment has no [[calibration]] table";
    return std::nullopt;
  }
  if (!fs::exists(path, ec)) {
    why_not = cat("there is no earlier results.h5 in ", dir.string());
    return std::nullopt;
  }
  try {
    return read_reusable(io::H5Reader::open(path), e, session, why_not);
  } catch (const std::exception& error) {
    why_not = cat("cannot read it: ", error.what());
    return std::nullopt;
  }
}

std::string distribution_metadata_to_json(const std::vector<analysis::DistributionStatistics>& distributions) {
  nlohmann::json out = nlohmann::json::array();
  for (const analysis::DistributionStatistics& d : distributions)
    out.push_back({{"name", d.name},
                   {"source", d.source},
                   {"seed", d.seed},
                   {"windows", d.windows},
                   {"seq_len", d.seq_len},
                   {"stream_tokens", d.stream_tokens},
                   {"window_starts", d.window_starts}});
  return out.dump();
}

std::vector<analysis::DistributionStatistics> distribution_metadata_from_json(const std::string& text) {
  std::vector<analysis::DistributionStatistics> out;
  try {
    for (const nlohmann::json& d : nlohmann::json::parse(text)) {
      analysis::DistributionStatistics s;
      s.name = d.at("name").get<std::string>();
      s.source = d.at("source").get<std::string>();
      s.seed = d.at("seed").get<uint64_t>();
      s.windows = d.at("windows").get<int64_t>();
      s.seq_len = d.at("seq_len").get<int64_t>();
      s.stream_tokens = d.at("stream_tokens").get<int64_t>();
      s.window_starts = d.at("window_starts").get<std::vector<int64_t>>();
      out.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("calibration metadata from rank 0: ", e.what());
  }
  return out;
}

}  // namespace moqa::pipeline
