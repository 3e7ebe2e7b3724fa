#include "pipeline/quantize/quantized_matrix_mpi.h"

#include <array>
#include <limits>

#include "core/error.h"
#include "dist/mpi_session.h"

namespace moqa::pipeline {
namespace {

template <class T>
void broadcast_array(std::vector<T>& values, int64_t count, MPI_Datatype type, int root, MPI_Comm comm,
                     const char* what) {
  MOQA_CHECK(count >= 0 && count <= std::numeric_limits<int>::max(), "broadcast of a quantized matrix: ", count, " ",
             what, " exceed MPI's int count");
  values.resize(static_cast<size_t>(count));
  if (count > 0)
    dist::check_mpi(MPI_Bcast(values.data(), static_cast<int>(count), type, root, comm),
                    cat("MPI_Bcast (quantized matrix ", what, ")"));
}

}  // namespace

quant::QuantizedMatrix broadcast_quantized(quant::QuantizedMatrix m, int root, MPI_Comm comm) {
  std::array<int64_t, 9> header{m.rows,
                                m.cols,
                                m.bits,
                                m.group_size,
                                m.symmetric ? 1 : 0,
                                static_cast<int64_t>(m.scales.size()),
                                static_cast<int64_t>(m.zeros.size()),
                                static_cast<int64_t>(m.g_idx.size()),
                                static_cast<int64_t>(m.packed.size())};
  dist::check_mpi(MPI_Bcast(header.data(), static_cast<int>(header.size()), MPI_INT64_T, root, comm),
                  "MPI_Bcast (quantized matrix header)");
  m.rows = header[0];
  m.cols = header[1];
  m.bits = static_cast<int>(header[2]);
  m.group_size = header[3];
  m.symmetric = header[4] != 0;
  broadcast_array(m.scales, header[5], MPI_FLOAT, root, comm, "scales");
  broadcast_array(m.zeros, header[6], MPI_UINT8_T, root, comm, "zeros");
  broadcast_array(m.g_idx, header[7], MPI_INT32_T, root, comm, "g_idx entries");
  broadcast_array(m.packed, header[8], MPI_UINT32_T, root, comm, "packed words");
  return m;
}

}  // namespace moqa::pipeline
