#pragma once
// The calibrate stage's part of results.h5: /analysis/<distribution>/... and /analysis/synthesized/...
// (layout, dtypes and meaning in docs/FORMATS.md, "results.h5"). Rank 0 only.
#include "analysis/calibrate.h"
#include "io/hdf5_file.h"

namespace moqa::analysis {

// The group name of a distribution's statistics is its [[calibration]] name; "synthesized" is taken.
inline constexpr const char* kSynthesizedGroup = "synthesized";

// /analysis attributes: the options used and the list of distributions.
void write_analysis_header(io::H5Writer& file, const CalibrationResult& result);
// /analysis/<name>/... (needs the statistics of rank 0).
void write_distribution(io::H5Writer& file, const DistributionStatistics& distribution,
                        const config::AnalysisSection& options);
// /analysis/synthesized/layer_<L>/{significance_mean, significance_variance}.
void write_synthesized(io::H5Writer& file, const CalibrationResult& result);

}  // namespace moqa::analysis
