#pragma once
// An owned, committed MPI datatype (freed on destruction). Messages are counted in these units rather
// than in bytes or floats so that MPI's int counts and displacements stay far from overflowing: a
// token row of a 7168-wide model is one element, not 28 672 bytes.
#include <mpi.h>

#include <cstdint>

namespace moqa::dist {

class Datatype {
 public:
  // `count` consecutive elements of `base` as one element (MPI_Type_contiguous + MPI_Type_commit).
  // Throws moqa::Error when count is not in [1, INT_MAX] or MPI refuses.
  static Datatype contiguous(int64_t count, MPI_Datatype base);

  Datatype() = default;
  ~Datatype();
  Datatype(Datatype&& other) noexcept;
  Datatype& operator=(Datatype&& other) noexcept;
  Datatype(const Datatype&) = delete;
  Datatype& operator=(const Datatype&) = delete;

  MPI_Datatype get() const { return type_; }

 private:
  explicit Datatype(MPI_Datatype type) : type_(type) {}
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

}  // namespace moqa::dist
