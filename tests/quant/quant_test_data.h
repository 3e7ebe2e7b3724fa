#pragma once
// Deterministic synthetic weights and calibration inputs for the quant tests, the direct (not
// Hessian-based) output error they are judged by, and the check of an error message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace moqa::quant::test {

inline Tensor random_matrix(int64_t rows, int64_t cols, uint64_t seed, float stddev = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  Tensor t({rows, cols});
  for (float& v : t.data) v = normal(rng);
  return t;
}

// Inputs [n, cols] with the structure of real layer inputs: a strong low-rank component (columns are
// highly correlated), isotropic noise (a little by default), and per-column magnitudes spread over ~2 orders
// (outlier channels), so that GPTQ's error feedback and act-order have something to exploit.
inline Tensor correlated_inputs(int64_t n, int64_t cols, int64_t rank, uint64_t seed, float noise_stddev = 0.05f) {
  const Tensor z = random_matrix(n, rank, seed);
  const Tensor a = random_matrix(rank, cols, seed + 1);
  const Tensor noise = random_matrix(n, cols, seed + 2, noise_stddev);
  std::mt19937_64 rng(seed + 3);
  std::uniform_real_distribution<float> exponent(-1.0f, 1.0f);
  std::vector<float> column_scale(static_cast<size_t>(cols));
  for (float& s : column_scale) s = std::pow(10.0f, exponent(rng));
  Tensor x({n, cols});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < cols; ++c) {
      float v = noise.data[static_cast<size_t>(i * cols + c)];
      for (int64_t k = 0; k < rank; ++k) {
        v += z.data[static_cast<size_t>(i * rank + k)] * a.data[static_cast<size_t>(k * cols + c)];
      }
      x.data[static_cast<size_t>(i * cols + c)] = v * column_scale[static_cast<size_t>(c)];
    }
  }
  return x;
}

// ||(W - Q) X^T||_F^2 for inputs x [n, cols], in double.
inline double direct_output_error(const Tensor& w, const Tensor& q, const Tensor& x) {
  const int64_t rows = w.dim(0);
  const int64_t cols = w.dim(1);
  const int64_t n = x.dim(0);
  double total = 0.0;
  std::vector<double> d(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      d[static_cast<size_t>(c)] = double(w.data[static_cast<size_t>(r * cols + c)]) - q.data[static_cast<size_t>(r * cols + c)];
    }
    for (int64_t i = 0; i < n; ++i) {
      double y = 0.0;
      for (int64_t c = 0; c < cols; ++c) y += d[static_cast<size_t>(c)] * x.data[static_cast<size_t>(i * cols + c)];
      total += y * y;
    }
  }
  return total;
}

// `call` throws moqa::Error whose message contains every needle.
inline void expect_error_mentions(const std::function<void()>& call, const std::vector<std::string>& needles) {
  try {
    call();
    FAIL() << "expected moqa::Error";
  } catch (const Error& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace moqa::quant::test
