#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/output_error.h"
#include "quant/rtn.h"
#include "quant/uniform_grid.h"
#include "quant_test_data.h"

namespace moqa::quant {
namespace {

using test::expect_error_mentions;

Hessian hessian_of(const Tensor& x) {
  HessianSum acc = make_hessian_sum(x.dim(1));
  accumulate(acc, x);
  return normalized_hessian(acc);
}

Hessian scaled_identity(int64_t cols, double value) {
  Hessian h;
  h.cols = cols;
  h.values.assign(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i) h.values[static_cast<size_t>(i * cols + i)] = value;
  return h;
}

void expect_same_bytes(const QuantizedMatrix& a, const QuantizedMatrix& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.group_size, b.group_size);
  EXPECT_EQ(a.packed, b.packed);
  EXPECT_EQ(a.zeros, b.zeros);
  ASSERT_EQ(a.scales.size(), b.scales.size());
  EXPECT_EQ(std::memcmp(a.scales.data(), b.scales.data(), a.scales.size() * sizeof(float)), 0);
  EXPECT_EQ(a.g_idx, b.g_idx);
}

// RTN on the grid rule of `variant` (GPTQ without error feedback must equal it): quantize_rtn for
// updated_groups, the same loop on the reference rule otherwise.
QuantizedMatrix rtn_for(const Tensor& w, const QuantSpec& spec, GptqVariant variant) {
  QuantizedMatrix q = quantize_rtn(w, spec, "w");
  if (variant == GptqVariant::updated_groups) return q;
  const int64_t groups = q.groups();
  std::vector<uint8_t> codes(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const std::span<const float> group(w.ptr() + r * q.cols + g * q.group_size, static_cast<size_t>(q.group_size));
      const GroupGrid grid = fit_grid(group, spec.bits, spec.symmetric, GridRule::gptq_reference);
      q.scales[static_cast<size_t>(r * groups + g)] = grid.scale;
      q.zeros[static_cast<size_t>(r * groups + g)] = static_cast<uint8_t>(grid.zero);
      for (int64_t c = 0; c < q.group_size; ++c) {
        codes[static_cast<size_t>(r * q.cols + g * q.group_size + c)] =
            quantize_value(group[static_cast<size_t>(c)], grid, spec.bits, GridRule::gptq_reference);
      }
    }
  }
  set_codes(q, codes);
  return q;
}

std::string describe(int bits, int64_t group, bool act_order) {
  return moqa::cat(bits, " bits, group ", group, act_order ? ", act-order" : "");
}

TEST(QuantGptq, InverseCholeskyFactorsTheInverse) {
  const int64_t n = 40;
  const Tensor x = test::random_matrix(100, n, 31);
  const Hessian h = hessian_of(x);
  const std::vector<double> u = inverse_cholesky_upper(h.values, n, "h");
  // U^T U H = I, U upper with a positive diagonal.
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_GT(u[static_cast<size_t>(i * n + i)], 0.0);
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(u[static_cast<size_t>(i * n + j)], 0.0);
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double v = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        double inv_ik = 0.0;  // (U^T U)[i][k]
        for (int64_t m = 0; m <= std::min(i, k); ++m) inv_ik += u[static_cast<size_t>(m * n + i)] * u[static_cast<size_t>(m * n + k)];
        v += inv_ik * h.values[static_cast<size_t>(k * n + j)];
      }
      ASSERT_NEAR(v, i == j ? 1.0 : 0.0, 1e-9) << i << "," << j;
    }
  }
  // Rank-deficient (20 samples for 40 columns) without damping is not positive definite.
  EXPECT_THROW(inverse_cholesky_upper(hessian_of(test::random_matrix(20, n, 32)).values, n, "h"), Error);
}

TEST(QuantGptq, ActOrderSortsByDescendingDiagonalWithStableTies) {
  Hessian h = scaled_identity(5, 1.0);
  h.values[1 * 5 + 1] = 3.0;
  h.values[3 * 5 + 3] = 3.0;
  h.values[4 * 5 + 4] = 0.0;
  EXPECT_EQ(act_order_permutation(h), (std::vector<int32_t>{1, 3, 0, 2, 4}));
}

TEST(QuantGptq, BeatsRtnOnCorrelatedInputs) {
  const int64_t rows = 48;
  const int64_t cols = 128;
  const Tensor x = test::correlated_inputs(512, cols, 16, 41, 0.5f);
  const Tensor w = test::random_matrix(rows, cols, 42);
  const Hessian h = hessian_of(x);
  for (int bits : {2, 3, 4}) {
    for (int64_t group : {int64_t{0}, int64_t{32}, int64_t{64}}) {
      for (bool symmetric : {false, true}) {
        const QuantSpec spec{bits, group, symmetric};
        const double rtn = test::direct_output_error(w, dequantize(quantize_rtn(w, spec, "w")), x);
        for (int variant = 0; variant < 3; ++variant) {
          GptqOptions options;
          options.act_order = variant >= 1;
          options.static_groups = variant == 2;
          const GptqResult g = quantize_gptq(w, h, spec, options, "w");
          const double gptq = test::direct_output_error(w, dequantize(g.matrix), x);
          SCOPED_TRACE(describe(bits, group, options.act_order) + (options.static_groups ? ", static groups" : "") +
                       (symmetric ? ", symmetric" : ""));
          EXPECT_LT(gptq, rtn);
          EXPECT_LT(gptq, 0.5 * rtn) << "expected a clear margin";
        }
      }
    }
  }
}

TEST(QuantGptq, EqualsRtnWhenTheHessianIsAScaledIdentity) {
  // With H = c I (any damping) U is diagonal, so no error is fed forward and every grid is fitted on the
  // original weights: GPTQ must reproduce RTN (on its variant's grid rule) bit for bit.
  const Tensor w = test::random_matrix(12, 96, 51);
  for (const GptqVariant variant : {GptqVariant::reference, GptqVariant::updated_groups})
  for (double c : {1.0, 3.7}) {
    for (int bits : {2, 3, 4, 6, 8}) {
      for (bool symmetric : {false, true}) {
        for (int64_t group : {int64_t{-1}, int64_t{32}}) {
          for (bool act_order : {false, true}) {
            GptqOptions options;
            options.act_order = act_order;
            options.block_size = 40;
            options.variant = variant;
            const GptqResult g = quantize_gptq(w, scaled_identity(96, c), QuantSpec{bits, group, symmetric}, options, "w");
            QuantizedMatrix rtn = rtn_for(w, QuantSpec{bits, group, symmetric}, variant);
            if (!g.matrix.g_idx.empty()) {  // act-order with ties keeps input order: g_idx is the trivial one
              for (int64_t col = 0; col < 96; ++col) ASSERT_EQ(g.matrix.g_idx[static_cast<size_t>(col)], col / 32);
              rtn.g_idx = g.matrix.g_idx;
            }
            SCOPED_TRACE(describe(bits, group, act_order) + (variant == GptqVariant::reference ? ", reference" : ""));
            expect_same_bytes(g.matrix, rtn);
            EXPECT_EQ(g.dead_columns, 0);
            EXPECT_NEAR(g.damping, 0.01 * c, 1e-12);
          }
        }
      }
    }
  }
}

TEST(QuantGptq, EqualsRtnForADiagonalHessianWithStaticGroups) {
  // A non-constant diagonal: act-order really permutes, but static groups keep RTN's grids.
  const Tensor w = test::random_matrix(8, 64, 61);
  Hessian h = scaled_identity(64, 0.0);
  for (int64_t i = 0; i < 64; ++i) h.values[static_cast<size_t>(i * 64 + i)] = 0.5 + double((i * 37) % 64);
  for (const GptqVariant variant : {GptqVariant::reference, GptqVariant::updated_groups}) {
    for (bool act_order : {false, true}) {
      GptqOptions options;
      options.act_order = act_order;
      options.static_groups = true;
      options.variant = variant;
      const GptqResult g = quantize_gptq(w, h, QuantSpec{3, 16, false}, options, "w");
      EXPECT_TRUE(g.matrix.g_idx.empty());
      expect_same_bytes(g.matrix, rtn_for(w, QuantSpec{3, 16, false}, variant));
    }
  }
}

TEST(QuantGptq, LossEqualsTheDampedHessianError) {
  // GPTQ's invariant W0 - Q = E U gives sum(err^2) = trace((W0 - Q)(H + lambda I)(W0 - Q)^T): checks the
  // in-block and the lazy cross-block updates, in either column order.
  const Tensor x = test::correlated_inputs(256, 96, 6, 71);
  const Tensor w = test::random_matrix(16, 96, 72);
  const Hessian h = hessian_of(x);
  for (bool act_order : {false, true}) {
    for (int64_t group : {int64_t{0}, int64_t{24}}) {
      for (int64_t block : {int64_t{1}, int64_t{16}, int64_t{128}}) {
        GptqOptions options;
        options.act_order = act_order;
        options.block_size = block;
        const GptqResult g = quantize_gptq(w, h, QuantSpec{3, group, false}, options, "w");
        Hessian damped = h;
        for (int64_t i = 0; i < 96; ++i) damped.values[static_cast<size_t>(i * 96 + i)] += g.damping;
        const double trace = output_error(w, dequantize(g.matrix), damped, "w");
        EXPECT_NEAR(g.loss, trace, 1e-5 * trace) << describe(3, group, act_order) << ", block " << block;
      }
    }
  }
}

TEST(QuantGptq, BlockSizeOnlyChangesRounding) {
  // updated_groups only: the reference fits dynamic groups on the block-start weights, so there the block
  // size is a real parameter of the result. Here it only changes the float32 summation order of the lazy
  // updates. Measured (any OPENBLAS_NUM_THREADS): block 1 and 1000 -3e-16 and 0, block 7 +9.6e-8, block 48
  // -2.4e-7 relative to block 128; the bound is 2.5e-6 relative, about 10x the largest.
  const Tensor x = test::correlated_inputs(256, 128, 8, 81);
  const Tensor w = test::random_matrix(16, 128, 82);
  const Hessian h = hessian_of(x);
  GptqOptions options;
  options.variant = GptqVariant::updated_groups;
  options.act_order = true;
  options.block_size = 128;
  const double reference = quantize_gptq(w, h, QuantSpec{4, 32, false}, options, "w").loss;
  for (int64_t block : {int64_t{1}, int64_t{7}, int64_t{48}, int64_t{1000}}) {
    options.block_size = block;
    const double loss = quantize_gptq(w, h, QuantSpec{4, 32, false}, options, "w").loss;
    std::printf("[ block    ] %lld: loss %.9g, block 128 %.9g (%+.3e relative)\n", static_cast<long long>(block), loss,
                reference, loss / reference - 1.0);
    EXPECT_NEAR(loss, reference, 2.5e-6 * reference) << block;
  }
}

TEST(QuantGptq, ActOrderRecordsTheGroupOfEveryColumn) {
  const Tensor x = test::correlated_inputs(256, 64, 4, 91);
  const Tensor w = test::random_matrix(4, 64, 92);
  const Hessian h = hessian_of(x);
  GptqOptions options;
  options.act_order = true;
  const GptqResult g = quantize_gptq(w, h, QuantSpec{4, 16, false}, options, "w");
  ASSERT_EQ(g.matrix.g_idx.size(), 64u);
  std::vector<int> members(4, 0);
  for (int32_t group : g.matrix.g_idx) ++members[static_cast<size_t>(group)];
  EXPECT_EQ(members, (std::vector<int>{16, 16, 16, 16}));
  const std::vector<int32_t> perm = act_order_permutation(h);
  for (int64_t j = 0; j < 64; ++j) EXPECT_EQ(g.matrix.g_idx[static_cast<size_t>(perm[static_cast<size_t>(j)])], j / 16);
  // Dequantization goes through g_idx: the result is within half a step of the grid of each column's group.
  const Tensor deq = dequantize(g.matrix);
  std::vector<uint8_t> codes;
  for (int64_t r = 0; r < 4; ++r) {
    unpack_row(g.matrix, r, codes);
    for (int64_t c = 0; c < 64; ++c) {
      const auto cell = static_cast<size_t>(r * 4 + g.matrix.g_idx[static_cast<size_t>(c)]);
      EXPECT_EQ(deq.data[static_cast<size_t>(r * 64 + c)],
                g.matrix.scales[cell] * float(int(codes[static_cast<size_t>(c)]) - int(g.matrix.zeros[cell])));
    }
  }
}

TEST(QuantGptq, IsDeterministic) {
  const Tensor x = test::correlated_inputs(256, 128, 8, 101);
  const Tensor w = test::random_matrix(32, 128, 102);
  const Hessian h = hessian_of(x);
  for (bool act_order : {false, true}) {
    GptqOptions options;
    options.act_order = act_order;
    options.block_size = 32;
    const GptqResult a = quantize_gptq(w, h, QuantSpec{3, 32, true}, options, "w");
    const GptqResult b = quantize_gptq(w, hessian_of(x), QuantSpec{3, 32, true}, options, "w");
    expect_same_bytes(a.matrix, b.matrix);
    EXPECT_EQ(std::memcmp(&a.loss, &b.loss, sizeof(double)), 0);
  }
}

TEST(QuantGptq, DeadColumnsAreZeroedAndHarmless) {
  Tensor x = test::correlated_inputs(256, 64, 6, 111);
  for (int64_t t = 0; t < 256; ++t) {
    x.data[static_cast<size_t>(t * 64 + 3)] = 0.0f;
    x.data[static_cast<size_t>(t * 64 + 40)] = 0.0f;
  }
  const Tensor w = test::random_matrix(8, 64, 112);
  const Hessian h = hessian_of(x);
  for (bool act_order : {false, true}) {
    GptqOptions options;
    options.act_order = act_order;
    const GptqResult g = quantize_gptq(w, h, QuantSpec{3, 16, false}, options, "w");
    EXPECT_EQ(g.dead_columns, 2);
    const Tensor deq = dequantize(g.matrix);
    for (float v : deq.data) ASSERT_TRUE(std::isfinite(v));
    for (int64_t r = 0; r < 8; ++r) {
      EXPECT_EQ(deq.data[static_cast<size_t>(r * 64 + 3)], 0.0f);
      EXPECT_EQ(deq.data[static_cast<size_t>(r * 64 + 40)], 0.0f);
    }
    const double rtn = test::direct_output_error(w, dequantize(quantize_rtn(w, QuantSpec{3, 16, false}, "w")), x);
    EXPECT_LT(test::direct_output_error(w, deq, x), rtn);
  }
  // Every column dead (no samples at all): the result is exactly zero, not NaN.
  const GptqResult none = quantize_gptq(w, normalized_hessian(make_hessian_sum(64)), QuantSpec{4, 0, false}, {}, "w");
  EXPECT_EQ(none.dead_columns, 64);
  for (float v : dequantize(none.matrix).data) ASSERT_EQ(v, 0.0f);
}

TEST(QuantGptq, WorksWithoutDampingOnAFullRankHessian) {
  const Tensor x = test::correlated_inputs(512, 32, 32, 121);
  const Tensor w = test::random_matrix(8, 32, 122);
  GptqOptions options;
  options.damp_fraction = 0.0;
  const GptqResult g = quantize_gptq(w, hessian_of(x), QuantSpec{4, 0, false}, options, "w");
  EXPECT_EQ(g.damping, 0.0);
  const double rtn = test::direct_output_error(w, dequantize(quantize_rtn(w, QuantSpec{4, 0, false}, "w")), x);
  EXPECT_LT(test::direct_output_error(w, dequantize(g.matrix), x), rtn);
}

TEST(QuantGptq, InvalidArgumentsNameTheMatrixAndTheValue) {
  const Tensor w = test::random_matrix(4, 64, 131);
  const Hessian h = scaled_identity(64, 1.0);
  const std::string name = "model.layers.2.mlp.experts.5.down_proj.weight";
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{5, 32, false}, {}, name); }, {name, "bits", "5"});
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{4, 48, false}, {}, name); }, {name, "group_size 48", "64"});
  expect_error_mentions([&] { quantize_gptq(w, scaled_identity(32, 1.0), QuantSpec{4, 32, false}, {}, name); }, {name, "32x32", "64"});
  GptqOptions options;
  options.damp_fraction = -0.1;
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{4, 32, false}, options, name); }, {name, "damp_fraction", "-0.1"});
  options = {};
  options.block_size = 0;
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{4, 32, false}, options, name); }, {name, "block_size", "0"});
  // Rank-deficient Hessian without damping: the Cholesky fails with advice rather than NaNs.
  options = {};
  options.damp_fraction = 0.0;
  const Hessian singular = hessian_of(test::random_matrix(16, 64, 132));
  expect_error_mentions([&] { quantize_gptq(w, singular, QuantSpec{4, 32, false}, options, name); }, {name, "damping"});
  Hessian negative = h;
  negative.values[5 * 64 + 5] = -1.0;
  expect_error_mentions([&] { quantize_gptq(w, negative, QuantSpec{4, 32, false}, {}, name); }, {name, "diagonal entry 5"});
}

TEST(QuantGptq, ReferenceGridRuleFollowsThePublishedQuantizer) {
  // Asymmetric: scale = (hi - lo) / maxq, zero = round(-lo / scale).
  const std::vector<float> mixed{-1.0f, 3.0f};
  const GroupGrid asym = fit_grid(mixed, 2, false, GridRule::gptq_reference);
  EXPECT_EQ(asym.scale, 4.0f / 3.0f);
  EXPECT_EQ(asym.zero, 1);
  // Symmetric without negative weights keeps lo = 0: half the moqa rule's scale.
  const std::vector<float> positive{0.5f, 2.0f};
  EXPECT_EQ(fit_grid(positive, 2, true, GridRule::gptq_reference).scale, 2.0f / 3.0f);
  EXPECT_EQ(fit_grid(positive, 2, true, GridRule::gptq_reference).zero, 2);
  EXPECT_EQ(fit_grid(positive, 2, true, GridRule::moqa).scale, 4.0f / 3.0f);
  // With a negative weight lo = -max|w|.
  const std::vector<float> signed_values{-0.5f, 2.0f};
  EXPECT_EQ(fit_grid(signed_values, 2, true, GridRule::gptq_reference).scale, 4.0f / 3.0f);
  // All zero: the range becomes [-1, 1]; zero = round(1 / fl(2 / 15)) = round(7.4999996) = 7 for 4 bits.
  const std::vector<float> zeros(4, 0.0f);
  const GroupGrid empty = fit_grid(zeros, 4, false, GridRule::gptq_reference);
  EXPECT_EQ(empty.scale, 2.0f / 15.0f);
  EXPECT_EQ(empty.zero, 7);
  EXPECT_EQ(fit_grid(zeros, 4, false, GridRule::moqa).scale, 1.0f);
  // Ties round to even (torch.round) under the reference rule, away from zero under moqa's.
  const GroupGrid unit{1.0f, 8};
  EXPECT_EQ(quantize_value(2.5f, unit, 4, GridRule::gptq_reference), 10);
  EXPECT_EQ(quantize_value(2.5f, unit, 4, GridRule::moqa), 11);
  EXPECT_EQ(quantize_value(3.5f, unit, 4, GridRule::gptq_reference), 12);
  EXPECT_EQ(quantize_value(-2.5f, unit, 4, GridRule::gptq_reference), 6);
  EXPECT_EQ(quantize_value(-3.5f, unit, 4, GridRule::gptq_reference), 4);
  EXPECT_EQ(quantize_value(-2.5f, unit, 4, GridRule::moqa), 5);
  EXPECT_EQ(quantize_value(0.49f, unit, 4, GridRule::gptq_reference), 8);
}

TEST(QuantGptq, ReferenceDampsAndOrdersAfterTheDeadColumnFix) {
  Hessian h = scaled_identity(4, 0.0);
  const double diag[] = {4.0, 0.0, 0.5, 2.0};
  for (int64_t i = 0; i < 4; ++i) h.values[static_cast<size_t>(i * 4 + i)] = diag[i];
  const Tensor w = test::random_matrix(2, 4, 141);
  GptqOptions options;
  options.act_order = true;
  const GptqPreparation reference = prepare_gptq(w, h, QuantSpec{4, 0, false}, options, "w");
  EXPECT_EQ(reference.perm, (std::vector<int32_t>{0, 3, 1, 2}));  // the dead column sorts as 1
  EXPECT_DOUBLE_EQ(reference.damping, 0.01 * (4.0 + 1.0 + 0.5 + 2.0) / 4.0);
  EXPECT_EQ(reference.rule, GridRule::gptq_reference);
  options.variant = GptqVariant::updated_groups;
  const GptqPreparation updated = prepare_gptq(w, h, QuantSpec{4, 0, false}, options, "w");
  EXPECT_EQ(updated.perm, (std::vector<int32_t>{0, 3, 2, 1}));  // dead last
  EXPECT_DOUBLE_EQ(updated.damping, 0.01 * (4.0 + 0.0 + 0.5 + 2.0) / 4.0);
}

TEST(QuantGptq, ReferencePerChannelGridSeesDeadColumns) {
  // The reference fits a per-channel grid before zeroing dead columns: a dead column's large weight widens
  // the row's range (its own value then quantizes to 0).
  Tensor w = test::random_matrix(1, 8, 151);
  w.data[0] = 10.0f;
  Hessian h = scaled_identity(8, 1.0);
  h.values[0] = 0.0;
  float lo = 0.0f;
  for (float v : w.data) lo = std::min(lo, v);
  const GptqResult reference = quantize_gptq(w, h, QuantSpec{4, 0, false}, {}, "w");
  EXPECT_EQ(reference.matrix.scales[0], (10.0f - lo) / 15.0f);
  EXPECT_EQ(dequantize(reference.matrix).data[0], 0.0f);
  GptqOptions updated;
  updated.variant = GptqVariant::updated_groups;
  EXPECT_LT(quantize_gptq(w, h, QuantSpec{4, 0, false}, updated, "w").matrix.scales[0], 2.0f / 15.0f * 1.01f);
}

// The matrix GPTQ with exact entries serves: the codes, with the exact columns' final weights and the exact
// rows' original weights in place.
Tensor served(const Tensor& w, const GptqResult& g, const GptqExact& exact) {
  Tensor q = dequantize(g.matrix);
  const int64_t cols = w.dim(1);
  const auto n = static_cast<int64_t>(exact.columns.size());
  for (int64_t r = 0; r < w.dim(0); ++r) {
    for (int64_t k = 0; k < n; ++k) {
      q.data[static_cast<size_t>(r * cols + exact.columns[static_cast<size_t>(k)])] =
          g.exact_column_values[static_cast<size_t>(r * n + k)];
    }
  }
  for (const int64_t r : exact.rows) std::copy_n(w.ptr() + r * cols, cols, q.data.data() + r * cols);
  return q;
}

TEST(QuantGptq, ExactColumnsInsideBeatOverwritingThemAfterwards) {
  // The channel cache's columns (issue: GPTQ spread their rounding error into other columns, then they were
  // overwritten with full-precision values, so the compensation became error). Kept exact inside GPTQ
  // (q = w, err = 0) they absorb earlier columns' updates and spread nothing.
  const int64_t rows = 32, cols = 128;
  for (const GptqVariant variant : {GptqVariant::reference, GptqVariant::updated_groups}) {
    for (uint32_t seed = 1; seed <= 6; ++seed) {
      const Tensor x = test::correlated_inputs(512, cols, 12, 160 + seed, 0.5f);
      const Tensor w = test::random_matrix(rows, cols, 170 + seed);
      const Hessian h = hessian_of(x);
      GptqExact exact;
      for (int64_t c = static_cast<int64_t>(seed); c < cols; c += 19) exact.columns.push_back(c);  // ~5 %
      GptqOptions options;
      options.variant = variant;
      options.act_order = seed % 2 == 0;
      const QuantSpec spec{3, 32, false};
      const GptqResult plain = quantize_gptq(w, h, spec, options, "w");
      Tensor overwritten = dequantize(plain.matrix);
      for (int64_t r = 0; r < rows; ++r)
        for (const int64_t c : exact.columns)
          overwritten.data[static_cast<size_t>(r * cols + c)] = w.data[static_cast<size_t>(r * cols + c)];
      const GptqResult inside = quantize_gptq(w, h, spec, options, "w", exact);
      ASSERT_EQ(inside.exact_column_values.size(), static_cast<size_t>(rows) * exact.columns.size());
      const double e_plain = test::direct_output_error(w, dequantize(plain.matrix), x);
      const double e_overwritten = test::direct_output_error(w, overwritten, x);
      const double e_inside = test::direct_output_error(w, served(w, inside, exact), x);
      std::printf("[exact] %s seed %u%s: plain GPTQ %.5g, cache overwritten afterwards %.5g, exact inside %.5g\n",
                  variant == GptqVariant::reference ? "reference" : "updated-groups", seed,
                  options.act_order ? " act-order" : "", e_plain, e_overwritten, e_inside);
      EXPECT_LE(e_inside, e_overwritten) << seed;
      EXPECT_LE(e_inside, e_plain) << seed;
      // GPTQ's invariant holds for the served matrix: sum(err^2) = trace((W - Q)(H + lambda I)(W - Q)^T).
      Hessian damped = h;
      for (int64_t i = 0; i < cols; ++i) damped.values[static_cast<size_t>(i * cols + i)] += inside.damping;
      const double trace = output_error(w, served(w, inside, exact), damped, "w");
      EXPECT_NEAR(inside.loss, trace, 1e-5 * trace) << seed;
    }
  }
}

TEST(QuantGptq, ExactRowsKeepTheirWeightsAndLeaveOtherRowsAlone) {
  const Tensor x = test::correlated_inputs(256, 64, 8, 181);
  const Tensor w = test::random_matrix(16, 64, 182);
  const Hessian h = hessian_of(x);
  const GptqExact exact{.columns = {}, .rows = {2, 7, 15}};
  const GptqResult plain = quantize_gptq(w, h, QuantSpec{4, 16, false}, {}, "w");
  const GptqResult inside = quantize_gptq(w, h, QuantSpec{4, 16, false}, {}, "w", exact);
  EXPECT_TRUE(inside.exact_column_values.empty());
  // GPTQ's updates stay within a row: every other row is bit-identical, and an exact row has no error.
  const Tensor a = dequantize(plain.matrix), b = dequantize(inside.matrix);
  for (int64_t r = 0; r < 16; ++r) {
    if (r == 2 || r == 7 || r == 15) continue;
    for (int64_t c = 0; c < 64; ++c) ASSERT_EQ(a.data[static_cast<size_t>(r * 64 + c)], b.data[static_cast<size_t>(r * 64 + c)]);
  }
  EXPECT_LT(test::direct_output_error(w, served(w, inside, exact), x), test::direct_output_error(w, a, x));
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{4, 16, false}, {}, "w", {.columns = {5, 5}, .rows = {}}); },
                        {"w", "exact column 1", "5"});
  expect_error_mentions([&] { quantize_gptq(w, h, QuantSpec{4, 16, false}, {}, "w", {.columns = {}, .rows = {16}}); },
                        {"w", "exact row 0", "16"});
}

}  // namespace
}  // namespace moqa::quant
