#pragma once
// What a layer-major pass over the calibration windows runs on: the rank's model (only its experts
// loaded), the expert executor, the communicator and the expert plan, and rank 0's progress output.
#include <mpi.h>

#include <iosfwd>

#include "dist/shard_plan.h"
#include "model/expert_executor.h"
#include "model/model.h"

namespace moqa::app {

struct LayerPassWorld {
  model::Model& model;
  model::ExpertExecutor& experts;
  MPI_Comm comm = MPI_COMM_WORLD;
  const dist::ShardPlan& plan;
  std::ostream* progress = nullptr;  // rank 0's log; null: silent
  double progress_interval_s = 2.0;

  int rank() const;
  int size() const;
};

}  // namespace moqa::app
