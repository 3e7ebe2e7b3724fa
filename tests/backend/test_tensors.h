#pragma once
// Random inputs and error measures shared by the backend tests (CPU and CUDA alike): fixed seeds, so that
// failures reproduce.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "backend/routing.h"
#include "core/tensor.h"

namespace moqa::test {

inline Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, scale);
  Tensor t(std::move(shape));
  for (float& v : t.data) v = normal(rng);
  return t;
}

// A random top-k routing of `tokens` tokens over `experts` experts (distinct experts per token), with
// combine weights uniform in [min_weight, 1).
inline backend::Routing random_routing(int64_t tokens, int64_t experts, int64_t top_k, uint32_t seed,
                                       float min_weight) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> weight(min_weight, 1.0f);
  backend::Routing routing{.tokens = tokens, .top_k = top_k, .experts = {}, .weights = {}};
  std::vector<int32_t> order(static_cast<size_t>(experts));
  for (int64_t t = 0; t < tokens; ++t) {
    for (size_t e = 0; e < order.size(); ++e) order[e] = static_cast<int32_t>(e);
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t s = 0; s < top_k; ++s) {
      routing.experts.push_back(order[static_cast<size_t>(s)]);
      routing.weights.push_back(weight(rng));
    }
  }
  return routing;
}

// ||got - want|| / ||want|| over two equally long spans; inf when a value of `got` is not finite or the
// sizes differ, so that unwritten (poisoned) outputs always fail.
inline double relative_error(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

inline double relative_error(std::span<const double> got, std::span<const double> want) {
  if (got.size() != want.size()) return INFINITY;
  long double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const long double d = static_cast<long double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<long double>(want[i]) * want[i];
  }
  return static_cast<double>(norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff));
}

inline double relative_error(const Tensor& got, const Tensor& want) {
  if (got.shape != want.shape) return INFINITY;
  return relative_error(std::span<const float>(got.data), std::span<const float>(want.data));
}

// The nearest bfloat16 value (round to nearest even), as a float: test inputs drawn on the bfloat16 grid
// are stored exactly by a bfloat16 weight, so a product's only error left is its summation order.
inline float bfloat16_value(float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  bits &= 0xFFFF0000u;
  float out = 0.0f;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

inline Tensor on_bfloat16_grid(Tensor t) {
  for (float& v : t.data) v = bfloat16_value(v);
  return t;
}

}  // namespace moqa::test
