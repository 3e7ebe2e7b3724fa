#include "dist/mpi_datatype.h"

#include <limits>
#include <utility>

#include "core/error.h"
#include "dist/mpi_session.h"

namespace moqa::dist {

Datatype Datatype::contiguous(int64_t count, MPI_Datatype base) {
  MOQA_CHECK(count >= 1 && count <= std::numeric_limits<int>::max(), "MPI datatype: ", count,
             " elements per item, expected [1, ", std::numeric_limits<int>::max(), "]");
  MPI_Datatype type = MPI_DATATYPE_NULL;
  check_mpi(MPI_Type_contiguous(static_cast<int>(count), base, &type), "MPI_Type_contiguous");
  Datatype owned(type);  // freed even if the commit fails
  check_mpi(MPI_Type_commit(&owned.type_), "MPI_Type_commit");
  return owned;
}

Datatype::~Datatype() {
  if (type_ == MPI_DATATYPE_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Type_free(&type_);
}

Datatype::Datatype(Datatype&& other) noexcept : type_(std::exchange(other.type_, MPI_DATATYPE_NULL)) {}

Datatype& Datatype::operator=(Datatype&& other) noexcept {
  if (this != &other) {
    Datatype old(std::exchange(type_, std::exchange(other.type_, MPI_DATATYPE_NULL)));
  }
  return *this;
}

}  // namespace moqa::dist
