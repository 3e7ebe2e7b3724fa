#pragma once
// Runs the stages of one experiment in pipeline order (calibrate, allocate, quantize, evaluate; each a
// function in app/stage_<name>.h) and then commits the run's results: results.h5, results.json and
// results.md in experiment.output_dir. A stage signals failure by throwing; moqa-pipeline then aborts the
// job with the rank and reason, and no result file of this run is committed.
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "analysis/calibrate.h"
#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "io/hdf5_file.h"
#include "model/weight_source.h"
#include "pipeline/channel_adjustment.h"
#include "pipeline/metrics.h"

namespace moqa::pipeline {

// Wall time of one stage as run_stages measured it on this rank.
struct StageTime {
  config::Stage stage = config::Stage::calibrate;
  double seconds = 0.0;
};

// What a stage gets, and what the stages hand on to the later ones (statistics, the bit allocation,
// the quantized model, the metrics).
struct RunContext {
  const config::Experiment& experiment;
  const dist::MpiSession& session;
  std::ostream& log;  // rank 0: stdout; other ranks: a sink (only rank 0 reports)
  // Rank 0: this run's results.h5, open under a temporary name until every stage has succeeded; stages
  // add their groups (/analysis, /allocation, /metrics). Null on the other ranks (pipeline/results_file.h).
  io::H5Writer* results = nullptr;
  // Set by the calibrate stage; the statistics are complete on rank 0 only (analysis/calibrate.h,
  // analysis/allocation_input.h builds the allocation's input from them).
  std::optional<analysis::CalibrationResult> calibration;
  // Set by the allocate stage on every rank (computed on rank 0, broadcast): bits per (layer, expert)
  // and the achieved averages (experts only / all linear weights). Only rank 0's copy carries the
  // method's diagnostics (scores, clusterings, ...): pipeline/allocate/allocation_sync.h.
  std::optional<allocate::Allocation> allocation;
  // Set by the allocate stage with quantization.channel_adjustment, on every rank: the cached channels of
  // each routed expert and the re-allocation of every novel [[evaluation]] perplexity set.
  std::optional<ChannelAdjustmentPlan> channel_adjustment;
  // Set by the quantize stage: this rank's weights of the quantized model (quantized linears dequantized
  // on load, everything kept in full precision passed through from the checkpoint). The evaluate stage
  // builds the quantized model from it; null = no quantized model in this run.
  std::shared_ptr<const model::WeightSource> quantized_weights;
  // Set by the quantize stage with channel adjustment: per novel [[evaluation]] set (by name), this rank's
  // quantized weights adjusted to that distribution (quantized_weights with the cached channels of the
  // experts whose width changed re-quantized, pipeline/channel_adjustment.h). A novel set's quantized model is
  // built from here when present, else from quantized_weights.
  std::map<std::string, std::shared_ptr<const model::WeightSource>> novel_weights;
  // Set by the evaluate stage on every rank (reduced over ranks): one record per (model, dataset).
  std::vector<DatasetEvaluation> evaluations;
  // Set by run_stages: rank-local wall time of each stage that ran, in run order (results.json/.md).
  std::vector<StageTime> stage_times;
};

// Runs experiment.stages in order on every rank, then (rank 0) commits results.h5 and writes
// results.json and results.md.
void run_stages(RunContext& context);

}  // namespace moqa::pipeline
