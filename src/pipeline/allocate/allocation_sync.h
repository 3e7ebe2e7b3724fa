#pragma once
// The allocation is decided on rank 0 (the coordinator) and every rank needs it (the owners quantize their
// experts at its widths).
#include <mpi.h>

#include "allocate/allocation.h"

namespace moqa::pipeline {

// Rank 0's allocation on every rank of `comm`: method, scope, bits, targets, the bit report and budgeted's
// objective. The diagnostics (scores, clusterings, memberships, overlaps, demotions) stay on rank 0, which
// writes them to results.h5. Collective.
allocate::Allocation broadcast_allocation(const allocate::Allocation& allocation, MPI_Comm comm);

}  // namespace moqa::pipeline
