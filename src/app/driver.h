#pragma once
// Runs the stages of one experiment in pipeline order. Each stage is a function registered in
// stage_registry() (driver.cpp); a stage without an entry is reported as not implemented and skipped.
// A stage signals failure by throwing; moqa-pipeline then aborts the job with the rank and reason.
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>

#include "allocate/allocation.h"
#include "analysis/calibrate.h"
#include "config/experiment.h"
#include "dist/mpi_session.h"
#include "io/hdf5_file.h"
#include "model/weight_source.h"

namespace moqa::app {

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
  // and the achieved averages (experts only / all linear weights).
  std::optional<allocate::Allocation> allocation;
  // Set by the quantize stage: this rank's weights of the quantized model (quantized linears dequantized
  // on load, everything kept in full precision passed through from the checkpoint). The evaluate stage
  // builds the quantized model from it; null = no quantized model in this run.
  std::shared_ptr<const model::WeightSource> quantized_weights;
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
