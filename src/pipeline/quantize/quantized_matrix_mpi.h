#pragma once
// Moving quantized matrices between ranks: a replicated weight is quantized on one rank and every rank
// needs the result (packed codes, scales, zeros, g_idx), byte for byte.
#include <mpi.h>

#include "quant/format.h"

namespace moqa::pipeline {

// `root`'s matrix on every rank of `comm` (the other ranks' argument is ignored). Collective.
quant::QuantizedMatrix broadcast_quantized(quant::QuantizedMatrix matrix, int root, MPI_Comm comm);

}  // namespace moqa::pipeline
