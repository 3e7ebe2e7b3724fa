#include "pipeline/quantize/layer_pass.h"

#include <limits>

#include "core/error.h"
#include "dist/mpi_session.h"

namespace moqa::pipeline {

int LayerPassWorld::rank() const {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  return rank;
}

void sum_to_root(std::vector<double>& values, MPI_Comm comm, const char* what) {
  MOQA_CHECK(values.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), what, ": ", values.size(),
             " values exceed MPI's int count");
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  const int count = static_cast<int>(values.size());
  dist::check_mpi(rank == 0 ? MPI_Reduce(MPI_IN_PLACE, values.data(), count, MPI_DOUBLE, MPI_SUM, 0, comm)
                            : MPI_Reduce(values.data(), nullptr, count, MPI_DOUBLE, MPI_SUM, 0, comm),
                  cat("MPI_Reduce (", what, ")"));
}

}  // namespace moqa::pipeline
