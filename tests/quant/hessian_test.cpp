#include "quant/hessian.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "quant/output_error.h"
#include "quant_test_data.h"

namespace moqa::quant {
namespace {

// 2/n X^T X, straight from the definition.
std::vector<double> direct_hessian(const Tensor& x) {
  const int64_t n = x.dim(0);
  const int64_t cols = x.dim(1);
  std::vector<double> h(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        h[static_cast<size_t>(i * cols + j)] +=
            double(x.data[static_cast<size_t>(t * cols + i)]) * x.data[static_cast<size_t>(t * cols + j)];
      }
    }
  }
  for (double& v : h) v *= 2.0 / static_cast<double>(n);
  return h;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double relative) {
  ASSERT_EQ(a.size(), b.size());
  double scale = 0.0;
  for (double v : b) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], relative * scale) << i;
}

TEST(QuantHessian, MatchesTheDefinitionAcrossTheChunkBoundary) {
  const Tensor x = test::random_matrix(1100, 24, 5);  // > 2 internal chunks of 512 rows
  HessianSum acc = make_hessian_sum(24);
  accumulate(acc, x);
  EXPECT_EQ(acc.samples, 1100);
  for (int64_t i = 0; i < 24; ++i) {
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(acc.sum[static_cast<size_t>(i * 24 + j)], 0.0);  // strict lower untouched
  }
  const Hessian h = normalized_hessian(acc);
  EXPECT_EQ(h.cols, 24);
  expect_close(h.values, direct_hessian(x), 1e-12);
}

TEST(QuantHessian, BatchesAndMergedPartsGiveTheSameHessian) {
  const Tensor x = test::random_matrix(300, 16, 9);
  HessianSum whole = make_hessian_sum(16);
  accumulate(whole, x);

  HessianSum batched = make_hessian_sum(16);
  HessianSum part_a = make_hessian_sum(16);
  HessianSum part_b = make_hessian_sum(16);
  const std::span<const float> all(x.data);
  int64_t first = 0;
  for (int64_t size : {1, 7, 0, 92, 200}) {
    const auto rows = all.subspan(static_cast<size_t>(first * 16), static_cast<size_t>(size * 16));
    accumulate(batched, rows, size);
    accumulate(first < 100 ? part_a : part_b, rows, size);
    first += size;
  }
  ASSERT_EQ(first, 300);
  merge(part_a, part_b);
  EXPECT_EQ(batched.samples, 300);
  EXPECT_EQ(part_a.samples, 300);
  expect_close(normalized_hessian(batched).values, normalized_hessian(whole).values, 1e-13);
  expect_close(normalized_hessian(part_a).values, normalized_hessian(whole).values, 1e-13);

  // Leading dimensions are flattened: [3, 100, 16] is 300 rows.
  HessianSum shaped = make_hessian_sum(16);
  accumulate(shaped, Tensor({3, 100, 16}, x.data));
  EXPECT_EQ(shaped.sum, whole.sum);
}

TEST(QuantHessian, NoSamplesGiveAZeroHessian) {
  const Hessian h = normalized_hessian(make_hessian_sum(8));
  for (double v : h.values) EXPECT_EQ(v, 0.0);
}

TEST(QuantHessian, RejectsMismatchedOrNonFiniteInput) {
  HessianSum acc = make_hessian_sum(16);
  EXPECT_THROW(accumulate(acc, Tensor({4, 15})), Error);
  EXPECT_THROW(accumulate(acc, std::span<const float>(Tensor({4, 16}).data), 3), Error);
  Tensor bad({2, 16});
  bad.data[20] = std::numeric_limits<float>::infinity();
  try {
    accumulate(acc, bad);
    FAIL() << "expected moqa::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1, column 4"), std::string::npos) << e.what();
  }
  HessianSum other = make_hessian_sum(8);
  EXPECT_THROW(merge(acc, other), Error);
  EXPECT_THROW(make_hessian_sum(0), Error);
}

TEST(QuantOutputError, EqualsTheMeanSquaredOutputErrorTimesTwo) {
  const Tensor x = test::correlated_inputs(200, 32, 4, 21);
  const Tensor w = test::random_matrix(10, 32, 22);
  const Tensor q = test::random_matrix(10, 32, 23, 0.01f);
  Tensor approx = w;
  for (int64_t i = 0; i < w.size(); ++i) approx.data[static_cast<size_t>(i)] += q.data[static_cast<size_t>(i)];
  HessianSum acc = make_hessian_sum(32);
  accumulate(acc, x);
  const Hessian h = normalized_hessian(acc);
  const double expected = 2.0 / 200.0 * test::direct_output_error(w, approx, x);
  EXPECT_NEAR(output_error(w, approx, h, "w"), expected, 1e-9 * expected);
  EXPECT_EQ(output_error(w, w, h, "w"), 0.0);
  EXPECT_THROW(output_error(w, Tensor({10, 31}), h, "w"), Error);
  EXPECT_THROW(output_error(Tensor({10, 16}), Tensor({10, 16}), h, "w"), Error);
}

}  // namespace
}  // namespace moqa::quant
