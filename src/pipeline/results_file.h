#pragma once
// results.h5 of one run: rank 0 creates it under a temporary name before the first stage, writes
// /provenance, lets every stage add its groups through RunContext::results, and renames it to
// <output_dir>/results.h5 only after the last stage succeeded (io/hdf5_file.h). A run that fails never
// leaves a results.h5 behind. docs/FORMATS.md ("results.h5") documents the content.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "io/hdf5_file.h"

namespace moqa::pipeline {

struct ResultsFile {
  std::optional<io::H5Writer> writer;  // rank 0 only
  std::chrono::steady_clock::time_point start;
  std::string utc_start;               // as in /provenance (rank 0)
  std::vector<std::string> hostnames;  // every rank's, in rank order (rank 0)
};

// Collective (gathers every rank's host name). Creates the output directory and the temporary file and
// writes /provenance on rank 0.
ResultsFile open_results_file(const config::Experiment& experiment, const dist::MpiSession& session);

// The current time as ISO 8601 UTC, "2026-01-31T12:00:00Z".
std::string utc_now();

// Rank 0: records the finish time and the wall time since open_results_file in /provenance and commits
// the file. Returns its path.
std::string commit_results_file(ResultsFile& file, const std::string& utc_finish = utc_now());

// The command line of this process, arguments shell-quoted where needed (from /proc/self/cmdline;
// "unknown" where that is not available).
std::string process_command_line();

}  // namespace moqa::pipeline
