#pragma once
// Combining the ranks' partial statistics into the global ones, one layer at a time (so the temporary
// memory of a reduction is one layer's statistics): SUM for counts (int64, exact) and float64 sums, MAX
// for maxima. Collective over `comm`: every rank calls with accumulators of the same shape.
#include <mpi.h>

#include <cstdint>
#include <span>

#include "analysis/accumulators.h"

namespace moqa::analysis {

// After the call, root's `acc` holds the statistics of all ranks' tokens; the other ranks' are unchanged.
void reduce_to_root(LayerAccumulator& acc, MPI_Comm comm, int root = 0);

// Element-wise SUM of `values` into root's copy (other ranks' unchanged).
void reduce_sum_to_root(std::span<double> values, MPI_Comm comm, int root = 0);

}  // namespace moqa::analysis
