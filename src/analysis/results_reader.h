#pragma once
// Reads the calibrate stage's part of an earlier results.h5 back (the inverse
// of results_writer.h), for runtime.resume. What is read is what the ranks
// reduced: each distribution's metadata and, per MoE layer, the accumulator
// sums (and the saliency column norms). Everything derived from them (S_ch,
// S_exp, correlation, routed fractions, the synthesized fit) is recomputed with
// the functions the calibrate stage uses (derive_layer_statistics, synthesize),
// so the result equals what measure_distribution produced from the same sums,
// bit for bit. Every group, attribute and dataset shape is checked against the
// model and the analysis options; a mismatch is a moqa::Error naming the file
// and the object.
#include <string>
#include <vector>

#include "analysis/calibrate.h"
#include "io/hdf5_file.h"
#include "io/hf_config.h"

namespace moqa::analysis {

// `names`: the [[calibration]] names in order (must equal
// /analysis/distributions). The result is complete (as on rank 0 after the
// calibrate stage), with result.options = options.
CalibrationResult read_calibration(const io::H5Reader& file, const std::vector<std::string>& names,
                                   const config::AnalysisSection& options, const ModelConfig& config);

}  // namespace moqa::analysis
