#pragma once
// Runs the stages of one experiment in pipeline order. Each stage is a function registered in
// stage_registry() (driver.cpp); a stage without an entry is reported as not implemented and skipped.
// A stage signals failure by throwing; moqa-pipeline then aborts the job with the rank and reason.
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "analysis/calibrate.h"
#include "app/channel_adjustment.h"
#include "app/metrics.h"
#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "io/hdf5_file.h"
#include "model/weight_source.h"

namespace moqa::app {

// Wall time of one stage as run_stages measured it on this rank.
struct StageTime {
  config::Stage stage = config::Stage::calibrate;
  double seconds = 0.0;
};

// What a stage gets. Grows with the stages: results that later stages consume (statistics, the bit
// allocation, the quantized model) are added here as the stages that produce them are implemented.
struct RunContext {
  const config::Experiment& experiment;
  const dist::MpiSession& session;
  std::ostream& log;  // rank 0: stdout; other ranks: a sink (only rank 0 reports)
  // Rank 0: this run's results.h5, open under a temporary name until every stage has succeeded; stages
  // add their groups (/analysis, /allocation, /metrics). Null on the other ranks (app/results_file.h).
  io::H5Writer* results = nullptr;
  // Set by the calibrate stage; the statistics are complete on rank 0 only (analysis/calibrate.h,
  // analysis/allocation_input.h builds the allocation's input from them).
  std::optional<analysis::CalibrationResult> calibration;
  // Set by the allocate stage on every rank (computed on rank 0, broadcast): bits per (layer, expert)
  // and the achieved averages (experts only / all linear weights). Only rank 0's copy carries the
  // method's diagnostics (scores, clusterings, ...): app/allocation_sync.h.
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
  // experts whose width changed re-quantized, app/channel_adjustment.h). A novel set's quantized model is
  // built from here when present, else from quantized_weights.
  std::map<std::string, std::shared_ptr<const model::WeightSource>> novel_weights;
  // Set by the evaluate stage on every rank (reduced over ranks): one record per (model, dataset).
  std::vector<DatasetEvaluation> evaluations;
  // Set by run_stages: rank-local wall time of each stage that ran, in run order (results.json/.md).
  std::vector<StageTime> stage_times;
};

using StageFunction = void (*)(RunContext& context);

struct StageEntry {
  config::Stage stage;
  StageFunction run;
};

// The implemented stages (a constant table; add an entry when a stage lands).
std::span<const StageEntry> stage_registry();

// Runs experiment.stages in order on every rank.
void run_stages(RunContext& context);

}  // namespace moqa::app
