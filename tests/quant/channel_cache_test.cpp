#include "quant/channel_cache.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "quant/gptq.h"
#include "quant/rtn.h"
#include "quant/uniform_grid.h"
#include "quant_test_data.h"

namespace moqa::quant {
namespace {

float at(const Tensor& t, int64_t r, int64_t c) { return t.data[static_cast<size_t>(r * t.dim(1) + c)]; }

TEST(QuantChannelCache, BaselineServesCachedEntriesExactlyInFullPrecision) {
  const Tensor w = test::random_matrix(12, 64, 3);
  const QuantizedMatrix q = quantize_rtn(w, QuantSpec{2, 16, false}, "w");
  const ChannelCache cache = make_channel_cache(w, {5, 40}, {7}, "w");
  EXPECT_EQ(cache.cached_elements(), 12 * 2 + 64 - 2);
  const Tensor deq = dequantize(q);
  const Tensor served = dequantize_with_cache(q, cache, "w");
  const std::set<int64_t> columns{5, 40};
  for (int64_t r = 0; r < 12; ++r) {
    for (int64_t c = 0; c < 64; ++c) {
      const bool cached = r == 7 || columns.count(c);
      EXPECT_EQ(at(served, r, c), cached ? at(w, r, c) : at(deq, r, c)) << r << "," << c;
    }
  }
  // An empty cache serves the plain dequantized matrix.
  EXPECT_EQ(dequantize_with_cache(q, ChannelCache{}, "w").data, deq.data);
}

TEST(QuantChannelCache, RequantizationChangesOnlyCachedEntriesOntoTheNewGrid) {
  const Tensor w = test::random_matrix(8, 96, 11);
  for (const bool symmetric : {false, true}) {
    for (const int64_t group : {int64_t{32}, int64_t{0}}) {
      const QuantizedMatrix q = quantize_rtn(w, QuantSpec{8, group, symmetric}, "w");
      const ChannelCache fp = make_channel_cache(w, {1, 33, 95}, {2}, "w");
      for (const int bits : {2, 3, 4, 6}) {
        SCOPED_TRACE(moqa::cat(bits, " bits, group ", group, symmetric ? ", symmetric" : ""));
        const Tensor deq = dequantize(q);
        const Tensor adjusted = adjusted_weights(q, fp, bits, "w");
        const int64_t g = q.group_size;
        for (int64_t r = 0; r < 8; ++r) {
          for (int64_t c = 0; c < 96; ++c) {
            const bool cached = r == 2 || c == 1 || c == 33 || c == 95;
            if (!cached) {
              ASSERT_EQ(at(adjusted, r, c), at(deq, r, c));
              continue;
            }
            // The reference group: baseline values with cached entries in full precision.
            std::vector<float> reference;
            for (int64_t k = (c / g) * g; k < (c / g + 1) * g; ++k) {
              const bool k_cached = r == 2 || k == 1 || k == 33 || k == 95;
              reference.push_back(k_cached ? at(w, r, k) : at(deq, r, k));
            }
            const GroupGrid grid = fit_grid(reference, bits, symmetric);
            ASSERT_EQ(at(adjusted, r, c), dequantize_value(quantize_value(at(w, r, c), grid, bits), grid));
          }
        }
        // Row 2 is cached whole: it equals RTN of the original row at the new width.
        const Tensor row2({1, 96}, std::vector<float>(w.row(2).begin(), w.row(2).end()));
        const Tensor rtn_row = dequantize(quantize_rtn(row2, QuantSpec{bits, group, symmetric}, "row"));
        for (int64_t c = 0; c < 96; ++c) ASSERT_EQ(at(adjusted, 2, c), rtn_row.data[static_cast<size_t>(c)]);
      }
    }
  }
}

TEST(QuantChannelCache, RequantizationFollowsTheActOrderGroupIndex) {
  const Tensor w = test::random_matrix(6, 64, 5);
  const Tensor x = test::correlated_inputs(256, 64, 8, 9);
  HessianSum sum = make_hessian_sum(64);
  accumulate(sum, x);
  GptqOptions options;
  options.act_order = true;
  const QuantizedMatrix q = quantize_gptq(w, normalized_hessian(sum), QuantSpec{4, 16, false}, options, "w").matrix;
  ASSERT_FALSE(q.g_idx.empty());
  const ChannelCache fp = make_channel_cache(w, {}, {0}, "w");
  const Tensor adjusted = adjusted_weights(q, fp, 2, "w");
  // Row 0's grids are fitted on the columns of each act-order group, not on consecutive columns.
  for (int64_t group = 0; group < 4; ++group) {
    std::vector<float> values;
    for (int64_t c = 0; c < 64; ++c)
      if (q.g_idx[static_cast<size_t>(c)] == group) values.push_back(at(w, 0, c));
    const GroupGrid grid = fit_grid(values, 2, false);
    for (int64_t c = 0; c < 64; ++c) {
      if (q.g_idx[static_cast<size_t>(c)] == group) {
        ASSERT_EQ(at(adjusted, 0, c), dequantize_value(quantize_value(at(w, 0, c), grid, 2), grid));
      }
    }
  }
  const Tensor deq = dequantize(q);
  for (int64_t r = 1; r < 6; ++r)
    for (int64_t c = 0; c < 64; ++c) ASSERT_EQ(at(adjusted, r, c), at(deq, r, c));
}

TEST(QuantChannelCache, BadIndicesAreErrorsNamingTheMatrix) {
  const Tensor w = test::random_matrix(4, 8, 1);
  EXPECT_THROW(make_channel_cache(w, {3, 2}, {}, "m"), moqa::Error);
  EXPECT_THROW(make_channel_cache(w, {8}, {}, "m"), moqa::Error);
  EXPECT_THROW(make_channel_cache(w, {}, {4}, "m"), moqa::Error);
  try {
    make_channel_cache(w, {-1}, {}, "layer 0 expert 1 w1");
    FAIL();
  } catch (const moqa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 expert 1 w1: cached column -1 outside [0, 8)"), std::string::npos)
        << e.what();
  }
  const QuantizedMatrix q = quantize_rtn(w, QuantSpec{4, 0, false}, "m");
  EXPECT_THROW(requantize_channel_cache(q, make_channel_cache(w, {1}, {}, "m"), 5, "m"), moqa::Error);
  const Tensor other = test::random_matrix(4, 16, 1);
  EXPECT_THROW(requantize_channel_cache(q, make_channel_cache(other, {1}, {}, "m"), 2, "m"), moqa::Error);
}

}  // namespace
}  // namespace moqa::quant
