#include "analysis/reduce.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "dist/mpi_session.h"

namespace moqa::analysis {
namespace {

// MPI counts are ints: large arrays go in chunks.
constexpr int64_t kChunk = int64_t{1} << 27;

template <class T>
void reduce_in_place(std::span<T> values, MPI_Datatype type, MPI_Op op, MPI_Comm comm, int root) {
  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  const auto total = static_cast<int64_t>(values.size());
  for (int64_t first = 0; first < total; first += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, total - first));
    T* data = values.data() + first;
    dist::check_mpi(rank == root ? MPI_Reduce(MPI_IN_PLACE, data, count, type, op, root, comm)
                                 : MPI_Reduce(data, nullptr, count, type, op, root, comm),
                    "MPI_Reduce (analysis statistics)");
  }
}

void sum_doubles(std::span<double> values, MPI_Comm comm, int root) {
  reduce_in_place(values, MPI_DOUBLE, MPI_SUM, comm, root);
}

}  // namespace

void reduce_to_root(LayerAccumulator& acc, MPI_Comm comm, int root) {
  // Counts and scalars travel together; the rest array by array.
  std::vector<int64_t> integers{acc.tokens};
  integers.insert(integers.end(), acc.routed_count.begin(), acc.routed_count.end());
  integers.insert(integers.end(), acc.coactivation.begin(), acc.coactivation.end());
  reduce_in_place(std::span<int64_t>(integers), MPI_INT64_T, MPI_SUM, comm, root);
  sum_doubles(std::span<double>(&acc.token_weight_sum, 1), comm, root);
  // The output side's arrays are empty (nothing to send) when it was not measured.
  for (std::vector<double>* v :
       {&acc.gate_mass, &acc.router_prob_mass, &acc.weight_mass, &acc.abs_sum, &acc.sq_sum, &acc.weighted_abs_sum,
        &acc.weighted_sq_sum, &acc.out_weight_mass, &acc.act_weighted_abs_sum, &acc.act_weighted_sq_sum,
        &acc.out_weighted_abs_sum, &acc.out_weighted_sq_sum, &acc.sensitivity_act, &acc.sensitivity_out})
    sum_doubles(*v, comm, root);
  reduce_in_place(std::span<double>(acc.abs_max), MPI_DOUBLE, MPI_MAX, comm, root);

  int rank = 0;
  dist::check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  if (rank != root) return;
  acc.tokens = integers[0];
  const auto experts = acc.routed_count.size();
  std::copy_n(integers.begin() + 1, experts, acc.routed_count.begin());
  std::copy(integers.begin() + 1 + static_cast<std::ptrdiff_t>(experts), integers.end(), acc.coactivation.begin());
}

void reduce_sum_to_root(std::span<double> values, MPI_Comm comm, int root) { sum_doubles(values, comm, root); }

}  // namespace moqa::analysis
