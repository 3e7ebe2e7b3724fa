#pragma once
// What a layer-major pass over the calibration windows runs on: the rank's model (only its experts
// loaded), the expert executor, the communicator and the expert plan, and rank 0's progress output.
#include <mpi.h>

#include <iosfwd>
#include <vector>

#include "dist/shard_plan.h"
#include "model/expert_executor.h"
#include "model/model.h"

namespace moqa::pipeline {

struct LayerPassWorld {
  model::Model& model;
  model::ExpertExecutor& experts;
  MPI_Comm comm = MPI_COMM_WORLD;
  const dist::ShardPlan& plan;
  std::ostream* progress = nullptr;  // rank 0's log; null: silent
  double progress_interval_s = 2.0;

  int rank() const;
};

// The element-wise sum of every rank's `values` (same length everywhere) into rank 0's `values`; the
// other ranks' are left as they were. How the passes collect per-expert tables that each owner filled
// for its own experts (zeros elsewhere), so the sums are exact. Collective; `what` names it in errors.
void sum_to_root(std::vector<double>& values, MPI_Comm comm, const char* what);

}  // namespace moqa::pipeline
