#pragma once
// runtime.resume for the calibration statistics: those of
// <statistics_folder>/results.h5, written by an earlier completed run, are reused when
// statistics_key (pipeline/resume/resume_key.h) is the same for that run and this one. The
// earlier run's facts come from its /provenance (config_toml, ranks, input
// files) and its /analysis backend attribute; the statistics themselves are
// read back with analysis/results_reader.h.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis/calibrate.h"
#include "config/experiment.h"
#include "dist/mpi_session.h"

namespace moqa::pipeline {

// Where reused statistics come from (the /analysis reuse attributes,
// docs/FORMATS.md).
struct StatisticsOrigin {
  std::string file;                 // the earlier results.h5
  std::string utc_finish;           // when it was committed
  std::string computed_git_commit;  // the build that computed the statistics
                                    // (through earlier reuses)
  std::string backend;              // the backend that computed them
};

struct ReusableCalibration {
  analysis::CalibrationResult result;  // complete, as on rank 0 after the calibrate stage
  StatisticsOrigin origin;
};

// Where the earlier run's results.h5 is looked for: runtime.statistics_from, else experiment.output_dir.
std::filesystem::path statistics_folder(const config::Experiment& experiment);

// Rank 0 (reads files only). The earlier statistics when they can be reused;
// otherwise nullopt and `why_not` says why in a few words ("there is no earlier
// results.h5 in ...", "calibration.0.samples is 8 in this run, 6 in the earlier
// one", "cannot read it: ...").
std::optional<ReusableCalibration> find_reusable_calibration(const config::Experiment& experiment,
                                                             const dist::MpiSession& session, std::string& why_not);

// The per-distribution metadata every rank holds after the calibrate stage
// (name, source, seed, windows, seq_len, stream_tokens, window_starts; no layer
// statistics), as JSON text for the broadcast.
std::string distribution_metadata_to_json(const std::vector<analysis::DistributionStatistics>& distributions);
std::vector<analysis::DistributionStatistics> distribution_metadata_from_json(const std::string& text);

}  // namespace moqa::pipeline
