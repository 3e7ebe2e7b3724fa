#pragma once
// Small MPI helpers shared by the MPI test executables (linked into every moqa_add_mpi_executable): the
// caller's place in MPI_COMM_WORLD and the few collectives tests use to compare or gather results. Every
// function but world_rank/world_size is collective over MPI_COMM_WORLD: all ranks must call it.
#include <cstdint>
#include <vector>

namespace moqa::test {

int world_rank();
int world_size();

int64_t sum_over_ranks(int64_t value);
int64_t max_over_ranks(int64_t value);

// Every rank's values concatenated in rank order on rank 0 (empty elsewhere). Ranks may pass different
// lengths, including none.
std::vector<float> gather_on_root(const std::vector<float>& local);

}  // namespace moqa::test
