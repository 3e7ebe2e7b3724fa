#include "support/mpi_test_support.h"

#include <mpi.h>

#include <algorithm>

namespace moqa::test {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int64_t sum_over_ranks(int64_t value) {
  int64_t sum = 0;
  MPI_Allreduce(&value, &sum, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return sum;
}

int64_t max_over_ranks(int64_t value) {
  int64_t max = 0;
  MPI_Allreduce(&value, &max, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  return max;
}

std::vector<float> gather_on_root(const std::vector<float>& local) {
  const int size = world_size();
  const int count = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<size_t>(size)), displs(static_cast<size_t>(size));
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[static_cast<size_t>(r)] = total;
    total += counts[static_cast<size_t>(r)];
  }
  // Never hand MPI a null buffer, even for zero values.
  std::vector<float> all(static_cast<size_t>(std::max(total, 1)));
  float dummy = 0;
  MPI_Gatherv(local.empty() ? &dummy : local.data(), count, MPI_FLOAT, all.data(), counts.data(), displs.data(),
              MPI_FLOAT, 0, MPI_COMM_WORLD);
  all.resize(static_cast<size_t>(world_rank() == 0 ? total : 0));
  return all;
}

}  // namespace moqa::test
