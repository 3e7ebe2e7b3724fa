#include "core/tensor.h"

#include "core/error.h"

namespace moqa {

std::string to_string(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

int64_t element_count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    MOQA_CHECK(d >= 0, "negative dimension in shape ", to_string(shape));
    n *= d;
  }
  return n;
}

Tensor::Tensor(Shape s, float fill) : shape(std::move(s)), data(static_cast<size_t>(element_count(shape)), fill) {}

Tensor::Tensor(Shape s, std::vector<float> values) : shape(std::move(s)), data(std::move(values)) {
  MOQA_CHECK(static_cast<int64_t>(data.size()) == element_count(shape), "tensor of shape ", to_string(shape),
             " needs ", element_count(shape), " values, got ", data.size());
}

std::span<float> Tensor::row(int64_t r) {
  const int64_t cols = shape.empty() ? 1 : shape.back();
  return {data.data() + r * cols, static_cast<size_t>(cols)};
}

std::span<const float> Tensor::row(int64_t r) const {
  const int64_t cols = shape.empty() ? 1 : shape.back();
  return {data.data() + r * cols, static_cast<size_t>(cols)};
}

}  // namespace moqa
