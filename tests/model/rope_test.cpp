// RoPE frequencies for each scaling type, pinned to the definitions in transformers' modeling_rope_utils.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "model/rope.h"

namespace moqa::model {
namespace {

ModelConfig config_with(RopeScaling scaling, double factor) {
  ModelConfig c;
  c.head_dim = 64;
  c.max_position_embeddings = 4096;
  c.rope.theta = 10000.0;
  c.rope.scaling = scaling;
  c.rope.factor = factor;
  c.rope.original_max_position_embeddings = 1024;
  return c;
}

double plain(int64_t i, int64_t dim = 64, double theta = 10000.0) {
  return 1.0 / std::pow(theta, double(2 * i) / double(dim));
}

TEST(Rope, DefaultAndLinear) {
  const auto none = rope_inverse_frequencies(config_with(RopeScaling::none, 1.0), 16);
  const auto linear = rope_inverse_frequencies(config_with(RopeScaling::linear, 4.0), 16);
  ASSERT_EQ(none.size(), 32u);
  for (int64_t i = 0; i < 32; ++i) {
    EXPECT_NEAR(none[i], plain(i), 1e-7 * plain(i) + 1e-12);
    EXPECT_NEAR(linear[i], plain(i) / 4.0, 1e-6 * plain(i));
  }
  const RopeTables t = rope_tables(config_with(RopeScaling::none, 1.0), 8);
  EXPECT_NEAR(t.cos.data[5 * 32 + 3], std::cos(5 * plain(3)), 1e-6);
  EXPECT_NEAR(t.sin.data[5 * 32 + 3], std::sin(5 * plain(3)), 1e-6);
  EXPECT_FLOAT_EQ(attention_scale(config_with(RopeScaling::none, 1.0)), 0.125f);
}

TEST(Rope, DynamicNtkRescalesTheBaseBeyondTheOriginalContextOnly) {
  const ModelConfig c = config_with(RopeScaling::dynamic, 2.0);
  const auto short_window = rope_inverse_frequencies(c, 1024);
  for (int64_t i = 0; i < 32; ++i) EXPECT_NEAR(short_window[i], plain(i), 1e-6 * plain(i));
  const auto long_window = rope_inverse_frequencies(c, 2048);
  const double base = 10000.0 * std::pow(2.0 * 2048 / 1024 - 1.0, 64.0 / 62.0);
  for (int64_t i = 0; i < 32; ++i) EXPECT_NEAR(long_window[i], plain(i, 64, base), 1e-5 * plain(i, 64, base));
}

TEST(Rope, YarnInterpolatesLowFrequenciesAndScalesMagnitude) {
  ModelConfig c = config_with(RopeScaling::yarn, 8.0);
  const auto inv = rope_inverse_frequencies(c, 16);
  // Fast-rotating dimensions keep their frequency, slow ones are divided by the factor.
  EXPECT_NEAR(inv[0], plain(0), 1e-6);
  EXPECT_NEAR(inv[31], plain(31) / 8.0, 1e-6 * plain(31));
  EXPECT_NEAR(rope_attention_factor(c), 0.1 * std::log(8.0) + 1.0, 1e-12);
  // DeepSeek-V3: mscale = mscale_all_dim cancels in the tables; attention scale gains mscale².
  c.mla = true;
  c.mla_dims.qk_rope_head_dim = 64;
  c.head_dim = 192;
  c.rope.mscale = 1.0;
  c.rope.mscale_all_dim = 1.0;
  EXPECT_NEAR(rope_attention_factor(c), 1.0, 1e-12);
  const double m = 0.1 * std::log(8.0) + 1.0;
  EXPECT_NEAR(attention_scale(c), m * m / std::sqrt(192.0), 1e-7);
  c.rope.attention_factor = 0.5;
  EXPECT_EQ(rope_attention_factor(c), 0.5);
}

TEST(Rope, Llama3KeepsHighDividesLowAndBlendsMediumFrequencies) {
  ModelConfig c = config_with(RopeScaling::llama3, 8.0);
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  const auto inv = rope_inverse_frequencies(c, 16);
  const double context = 1024, low_wavelen = context / 1.0, high_wavelen = context / 4.0;
  int seen_medium = 0;
  for (int64_t i = 0; i < 32; ++i) {
    const double f = plain(i), wavelen = 2 * std::numbers::pi / f;
    double want = f;
    if (wavelen > low_wavelen) {
      want = f / 8.0;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (context / wavelen - 1.0) / 3.0;
      want = (1 - smooth) * f / 8.0 + smooth * f;
      ++seen_medium;
    }
    EXPECT_NEAR(inv[i], want, 1e-6 * want) << i;
  }
  EXPECT_GT(seen_medium, 0);
}

}  // namespace
}  // namespace moqa::model
