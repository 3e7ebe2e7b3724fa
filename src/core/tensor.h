#pragma once
// A dense, row-major float32 tensor in host memory: the exchange type between io, model, analysis and
// quant. Backends keep their own device-resident storage and convert at their boundary.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace moqa {

using Shape = std::vector<int64_t>;

std::string to_string(const Shape& shape);  // "[2, 48, 64]"
int64_t element_count(const Shape& shape);

struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.0f);
  Tensor(Shape s, std::vector<float> values);

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t i) const { return shape.at(static_cast<size_t>(i < 0 ? rank() + i : i)); }
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  // Row r of a tensor viewed as [rows, dim(-1)].
  std::span<float> row(int64_t r);
  std::span<const float> row(int64_t r) const;
};

}  // namespace moqa
