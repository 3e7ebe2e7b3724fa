#include "app/layer_pass.h"

#include "dist/mpi_session.h"

namespace moqa::app {

int LayerPassWorld::rank() const {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  return rank;
}

int LayerPassWorld::size() const {
  int size = 1;
  dist::check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  return size;
}

}  // namespace moqa::app
