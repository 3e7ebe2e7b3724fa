#pragma once
// A tensor that lives wherever a backend keeps its data (host memory for the CPU backend, device memory
// for CUDA). Model code holds Arrays and passes them to Backend operations; it never reads their memory.
// Data enters and leaves only through Backend::upload / upload_weight / download.
//
// Copies of an Array alias the same storage (like torch tensors): in-place operations through one copy
// are visible through every other. Use Backend::copy for an independent duplicate.
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace moqa::backend {

// Backend-specific storage. Only the backend that created it looks inside (each backend checks that an
// Array it receives is its own and reports a clear error otherwise).
class ArrayStorage {
 public:
  virtual ~ArrayStorage() = default;
};

struct Array {
  Shape shape;
  std::shared_ptr<ArrayStorage> storage;

  bool empty() const { return storage == nullptr; }
  int64_t size() const { return element_count(shape); }
  // Every Array is also a matrix [rows, cols]: cols is the last dimension, rows the product of the others
  // (so [5, 0] is 5 rows of no columns).
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const {
    int64_t count = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) count *= shape[i];
    return count;
  }
};

// The same storage under another shape with the same element count (no copy).
Array reshape(const Array& array, Shape shape);

}  // namespace moqa::backend
