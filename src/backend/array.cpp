#include "backend/array.h"

#include "core/error.h"

namespace moqa::backend {

Array reshape(const Array& array, Shape shape) {
  MOQA_CHECK(element_count(shape) == array.size(), "reshape: ", to_string(array.shape), " has ", array.size(),
             " elements, ", to_string(shape), " needs ", element_count(shape));
  Array out = array;
  out.shape = std::move(shape);
  return out;
}

}  // namespace moqa::backend
