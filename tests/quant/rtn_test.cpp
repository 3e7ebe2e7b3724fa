#include "quant/rtn.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"
#include "quant/uniform_grid.h"
#include "quant_test_data.h"

namespace moqa::quant {
namespace {

using test::expect_error_mentions;

double squared_error(const Tensor& a, const Tensor& b) {
  double total = 0.0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double d = double(a.data[static_cast<size_t>(i)]) - b.data[static_cast<size_t>(i)];
    total += d * d;
  }
  return total;
}

// |w - deq| <= scale / 2 for every weight, with its own group's scale.
void expect_within_half_scale(const Tensor& w, const QuantizedMatrix& q) {
  const Tensor deq = dequantize(q);
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t c = 0; c < q.cols; ++c) {
      const float scale = q.scales[static_cast<size_t>(r * q.groups() + c / q.group_size)];
      const float w_rc = w.data[static_cast<size_t>(r * q.cols + c)];
      const float err = std::fabs(w_rc - deq.data[static_cast<size_t>(r * q.cols + c)]);
      // Half a step, plus float rounding of values of the size of the range.
      const float slack = 1e-6f * (std::fabs(w_rc) + scale * float(max_code(q.bits)));
      ASSERT_LE(err, scale * 0.5f + slack) << "row " << r << " col " << c << " w " << w_rc << " bits "
                                                     << q.bits << " group " << q.group_size;
    }
  }
}

TEST(QuantRtn, ErrorIsWithinHalfAScaleInEveryGroup) {
  const Tensor w = test::random_matrix(16, 192, 7);
  for (int bits : {2, 3, 4, 6, 8}) {
    for (bool symmetric : {false, true}) {
      for (int64_t group : {int64_t{0}, int64_t{-1}, int64_t{32}, int64_t{64}, int64_t{192}}) {
        const QuantizedMatrix q = quantize_rtn(w, QuantSpec{bits, group, symmetric}, "w");
        ASSERT_EQ(q.group_size, group <= 0 ? 192 : group);
        ASSERT_TRUE(q.g_idx.empty());
        ASSERT_EQ(static_cast<int64_t>(q.packed.size()), 16 * ((192 * bits + 31) / 32));
        for (uint8_t z : q.zeros) {
          if (symmetric) {
            ASSERT_EQ(z, 1 << (bits - 1));
          } else {
            ASSERT_LE(z, max_code(bits));
          }
        }
        expect_within_half_scale(w, q);
      }
    }
  }
}

TEST(QuantRtn, MoreBitsAndSmallerGroupsReduceTheError) {
  const Tensor w = test::random_matrix(32, 256, 11);
  double previous = INFINITY;
  for (int bits : {2, 3, 4, 6, 8}) {
    const double e = squared_error(w, dequantize(quantize_rtn(w, QuantSpec{bits, 64, false}, "w")));
    EXPECT_LT(e, previous) << bits;
    previous = e;
  }
  // Columns whose magnitude varies by group: one grid per row is a poor fit, one per 32 columns is not.
  Tensor uneven = w;
  for (int64_t r = 0; r < 32; ++r) {
    for (int64_t c = 0; c < 256; ++c) uneven.data[static_cast<size_t>(r * 256 + c)] *= std::pow(4.0f, float(c / 32 % 4) - 2.0f);
  }
  const double per_channel = squared_error(uneven, dequantize(quantize_rtn(uneven, QuantSpec{4, 0, false}, "w")));
  const double grouped = squared_error(uneven, dequantize(quantize_rtn(uneven, QuantSpec{4, 32, false}, "w")));
  EXPECT_LT(grouped, 0.5 * per_channel);
}

TEST(QuantRtn, AsymmetricFitsOneSidedDataBetterThanSymmetric) {
  Tensor w = test::random_matrix(8, 128, 3);
  for (float& v : w.data) v = 1.0f + std::fabs(v);  // all positive
  for (int bits : {2, 3, 4}) {
    const double asym = squared_error(w, dequantize(quantize_rtn(w, QuantSpec{bits, 32, false}, "w")));
    const double sym = squared_error(w, dequantize(quantize_rtn(w, QuantSpec{bits, 32, true}, "w")));
    EXPECT_LT(asym, sym) << bits;
  }
  // Zero-centred data: both grids span about the same range; symmetric is within a factor of 2.
  const Tensor centred = test::random_matrix(8, 128, 4);
  const double asym = squared_error(centred, dequantize(quantize_rtn(centred, QuantSpec{4, 32, false}, "w")));
  const double sym = squared_error(centred, dequantize(quantize_rtn(centred, QuantSpec{4, 32, true}, "w")));
  EXPECT_LT(sym, 2.0 * asym);
  EXPECT_LT(asym, 2.0 * sym);
}

TEST(QuantRtn, ZeroConstantAndDenormalGroupsGiveFiniteExactResults) {
  Tensor w({4, 64}, 0.0f);  // row 0 all zero
  for (int64_t c = 0; c < 64; ++c) {
    w.data[static_cast<size_t>(64 + c)] = 0.3f;                  // constant positive
    w.data[static_cast<size_t>(128 + c)] = -2.0f;                // constant negative
    w.data[static_cast<size_t>(192 + c)] = c % 2 ? 1e-41f : -3e-42f;  // denormals
  }
  for (int bits : {2, 3, 4, 6, 8}) {
    for (bool symmetric : {false, true}) {
      const QuantizedMatrix q = quantize_rtn(w, QuantSpec{bits, 32, symmetric}, "w");
      for (float s : q.scales) ASSERT_TRUE(std::isfinite(s) && s > 0.0f);
      const Tensor deq = dequantize(q);
      for (float v : deq.data) ASSERT_TRUE(std::isfinite(v));
      for (int64_t c = 0; c < 64; ++c) {
        ASSERT_EQ(deq.data[static_cast<size_t>(c)], 0.0f);  // zero stays exactly zero
        ASSERT_LE(std::fabs(deq.data[static_cast<size_t>(192 + c)]), 1e-40f);
        if (!symmetric) {  // a constant is an end point of its widened range: exact up to float rounding
          ASSERT_NEAR(deq.data[static_cast<size_t>(64 + c)], 0.3f, 1e-6f);
          ASSERT_NEAR(deq.data[static_cast<size_t>(128 + c)], -2.0f, 1e-6f);
        }
      }
      expect_within_half_scale(w, q);
    }
  }
}

TEST(QuantRtn, GridFitMatchesTheDocumentedFormulas) {
  const std::vector<float> group{-1.0f, 0.5f, 3.0f};
  const GroupGrid asym = fit_grid(group, 2, false);
  EXPECT_EQ(asym.scale, 3.0f / 3.0f - (-1.0f) / 3.0f);
  EXPECT_EQ(asym.zero, 1);  // round(1 / 1.3333)
  const GroupGrid sym = fit_grid(group, 2, true);
  EXPECT_EQ(sym.scale, 2.0f * (3.0f / 3.0f));
  EXPECT_EQ(sym.zero, 2);
  EXPECT_EQ(quantize_value(3.0f, sym, 2), 3);   // clamps at maxq
  EXPECT_EQ(quantize_value(-4.0f, sym, 2), 0);
  EXPECT_EQ(quantize_value(1.0f, sym, 2), 3);   // 0.5 rounds away from zero
  EXPECT_EQ(quantize_value(-1.0f, sym, 2), 1);  // -0.5 too
  EXPECT_EQ(quantize_value(std::numeric_limits<float>::quiet_NaN(), sym, 2), 0);
  EXPECT_EQ(dequantize_value(3, sym), 2.0f);
}

TEST(QuantRtn, InvalidArgumentsNameTheMatrixAndTheValue) {
  const Tensor w = test::random_matrix(4, 256, 1);
  expect_error_mentions([&] { quantize_rtn(w, QuantSpec{5, 128, false}, "layers.3.w1"); }, {"layers.3.w1", "bits", "5"});
  expect_error_mentions([&] { quantize_rtn(w, QuantSpec{4, 100, false}, "layers.3.w2"); },
                        {"layers.3.w2", "group_size 100", "256"});
  expect_error_mentions([&] { quantize_rtn(Tensor({256}), QuantSpec{}, "layers.3.w3"); }, {"layers.3.w3", "[256]"});
  Tensor bad = w;
  bad.data[5] = std::numeric_limits<float>::quiet_NaN();
  expect_error_mentions([&] { quantize_rtn(bad, QuantSpec{}, "layers.0.w1"); }, {"layers.0.w1", "row 0", "column 5"});
}

TEST(QuantFormat, DequantizeRejectsCorruptedMatrices) {
  const QuantizedMatrix good = quantize_rtn(test::random_matrix(4, 96, 2), QuantSpec{3, 32, false}, "w");
  EXPECT_EQ(good.words_per_row(), 9);  // 96 * 3 bits
  EXPECT_NO_THROW(dequantize(good, "w"));
  QuantizedMatrix q = good;
  q.zeros[3] = 8;
  expect_error_mentions([&] { dequantize(q, "expert.7.w2"); }, {"expert.7.w2", "zero 3 is 8"});
  q = good;
  q.packed.pop_back();
  expect_error_mentions([&] { dequantize(q, "w"); }, {"packed"});
  q = good;
  q.g_idx.assign(96, 0);
  q.g_idx[40] = 3;
  expect_error_mentions([&] { dequantize(q, "w"); }, {"g_idx[40] is 3"});
  q = good;
  q.scales[0] = INFINITY;
  expect_error_mentions([&] { dequantize(q, "w"); }, {"scale 0"});
  q = good;
  q.bits = 5;
  expect_error_mentions([&] { dequantize(q, "w"); }, {"bits", "5"});
}

TEST(QuantScaleDtype, F16ScalesAreHalfValuesAndTheCodesAreComputedOnThem) {
  const Tensor w = test::random_matrix(8, 128, 11);
  for (const bool symmetric : {false, true}) {
    for (const int bits : {2, 3, 4, 8}) {
      const QuantizedMatrix q = quantize_rtn(w, QuantSpec{bits, 32, symmetric, ScaleDtype::f16}, "w");
      const QuantizedMatrix q32 = quantize_rtn(w, QuantSpec{bits, 32, symmetric, ScaleDtype::f32}, "w");
      EXPECT_EQ(q.scale_dtype, ScaleDtype::f16);
      std::vector<uint8_t> row;
      for (int64_t r = 0; r < q.rows; ++r) {
        unpack_row(q, r, row);
        for (int64_t c = 0; c < q.cols; ++c) {
          const size_t cell = static_cast<size_t>(r * q.groups() + c / 32);
          // The scale is the half-precision rounding of the f32 grid's, the zero the same, and every code is
          // the nearest on that stored grid (so dequantizing the stored bytes gives what was measured).
          ASSERT_EQ(q.scales[cell], io::f16_to_f32(io::f32_to_f16(q32.scales[cell])));
          ASSERT_EQ(q.zeros[cell], q32.zeros[cell]);
          const GroupGrid grid{q.scales[cell], q.zeros[cell]};
          ASSERT_EQ(row[static_cast<size_t>(c)], quantize_value(w.data[static_cast<size_t>(r * q.cols + c)], grid, bits));
        }
      }
    }
  }
  // Out of the half range: clamped to 65504 / 2^-24, never 0 or infinity.
  EXPECT_EQ(stored_scale(1e6f, ScaleDtype::f16), 65504.0f);
  EXPECT_EQ(stored_scale(1e-12f, ScaleDtype::f16), kF16MinPositive);
  EXPECT_EQ(stored_scale(1e-12f, ScaleDtype::f32), 1e-12f);
}

TEST(QuantScaleDtype, OverheadBitsCountScalesZerosAndGroupIndex) {
  // mixtral-tiny's expert gate [256, 128] at group 128: 256 groups x (16 + 8) bits; its down [128, 256]:
  // 256 groups. f32 scales: 40 bits a group. A g_idx: 32 bits per column. Per channel: one group per row.
  EXPECT_EQ(overhead_bits(256, 128, 128, ScaleDtype::f16, false), 256 * 24);
  EXPECT_EQ(overhead_bits(128, 256, 128, ScaleDtype::f16, false), 256 * 24);
  EXPECT_EQ(overhead_bits(128, 256, 128, ScaleDtype::f32, false), 256 * 40);
  EXPECT_EQ(overhead_bits(128, 256, 128, ScaleDtype::f16, true), 256 * 24 + 256 * 32);
  EXPECT_EQ(overhead_bits(128, 256, 0, ScaleDtype::f16, false), 128 * 24);
  // The same as a real matrix counts, and in bytes what the checkpoint stores besides the packed codes.
  const QuantizedMatrix q = quantize_rtn(test::random_matrix(128, 256, 3), QuantSpec{3, 128, false, ScaleDtype::f16}, "w");
  EXPECT_EQ(overhead_bits(q), 256 * 24);
  EXPECT_EQ(static_cast<int64_t>(q.scales.size()) * 16 + static_cast<int64_t>(q.zeros.size()) * 8, overhead_bits(q));
  EXPECT_EQ(static_cast<int64_t>(q.packed.size()) * 32, 128 * 256 * 3);  // no row padding at this shape
}

}  // namespace
}  // namespace moqa::quant
