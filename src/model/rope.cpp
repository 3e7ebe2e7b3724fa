#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace moqa::model {
namespace {

// yarn's magnitude correction for a context extension by `scale`.
double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// The rotary dimension where a frequency makes `rotations` turns over `context` positions.
double yarn_correction_dim(double rotations, int64_t dim, double base, double context) {
  return static_cast<double>(dim) * std::log(context / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

}  // namespace

int64_t rotary_dim(const ModelConfig& config) {
  return config.mla ? config.mla_dims.qk_rope_head_dim : config.head_dim;
}

std::vector<float> rope_inverse_frequencies(const ModelConfig& config, int64_t seq_len) {
  const RopeConfig& rope = config.rope;
  const int64_t dim = rotary_dim(config);
  const int64_t half = dim / 2;
  double base = rope.theta;
  if (rope.scaling == RopeScaling::dynamic) {
    const double context = static_cast<double>(rope.original_max_position_embeddings > 0
                                                   ? rope.original_max_position_embeddings
                                                   : config.max_position_embeddings);
    if (static_cast<double>(seq_len) > context) {
      base *= std::pow(rope.factor * static_cast<double>(seq_len) / context - (rope.factor - 1.0),
                       static_cast<double>(dim) / static_cast<double>(dim - 2));
    }
  }

  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // transformers evaluates the exponent 2i/dim in float32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[static_cast<size_t>(i)] = 1.0 / std::pow(base, static_cast<double>(exponent));
  }

  switch (rope.scaling) {
    case RopeScaling::none:
    case RopeScaling::dynamic: break;
    case RopeScaling::linear:
      for (double& f : inv) f /= rope.factor;
      break;
    case RopeScaling::yarn: {
      const double context = static_cast<double>(rope.original_max_position_embeddings > 0
                                                     ? rope.original_max_position_embeddings
                                                     : config.max_position_embeddings);
      double low = std::floor(yarn_correction_dim(rope.beta_fast, dim, base, context));
      double high = std::ceil(yarn_correction_dim(rope.beta_slow, dim, base, context));
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;  // avoids a zero-width ramp
      for (int64_t i = 0; i < half; ++i) {
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1.0 - ramp;  // weight of the unscaled frequency
        double& f = inv[static_cast<size_t>(i)];
        f = f / rope.factor * (1.0 - extrapolation) + f * extrapolation;
      }
      break;
    }
    case RopeScaling::llama3: {
      const double context = static_cast<double>(rope.original_max_position_embeddings);
      const double low_wavelen = context / rope.low_freq_factor;
      const double high_wavelen = context / rope.high_freq_factor;
      for (double& f : inv) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
          f /= rope.factor;
        } else if (wavelen >= high_wavelen) {
          const double smooth =
              (context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
          f = (1.0 - smooth) * f / rope.factor + smooth * f;
        }
      }
      break;
    }
  }
  std::vector<float> out(inv.size());
  std::transform(inv.begin(), inv.end(), out.begin(), [](double f) { return static_cast<float>(f); });
  return out;
}

double rope_attention_factor(const ModelConfig& config) {
  const RopeConfig& rope = config.rope;
  if (rope.scaling != RopeScaling::yarn) return 1.0;
  if (rope.attention_factor) return *rope.attention_factor;
  // transformers uses the ratio only when config.json sets both mscale and mscale_all_dim; ModelConfig
  // cannot tell an absent mscale from 1.0, so a config with mscale_all_dim alone gets the ratio here.
  if (rope.mscale != 0.0 && rope.mscale_all_dim != 0.0)
    return yarn_mscale(rope.factor, rope.mscale) / yarn_mscale(rope.factor, rope.mscale_all_dim);
  return yarn_mscale(rope.factor, 1.0);
}

RopeTables rope_tables(const ModelConfig& config, int64_t seq_len) {
  MOQA_CHECK(seq_len > 0, "rope tables need a positive window length, got ", seq_len);
  const std::vector<float> inv = rope_inverse_frequencies(config, seq_len);
  const double factor = rope_attention_factor(config);
  const int64_t half = static_cast<int64_t>(inv.size());
  RopeTables tables{Tensor({seq_len, half}), Tensor({seq_len, half})};
  for (int64_t p = 0; p < seq_len; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      // The angle is a float32 product, as in transformers (inv_freq @ position_ids in float32).
      const float angle = inv[static_cast<size_t>(i)] * static_cast<float>(p);
      const auto at = static_cast<size_t>(p * half + i);
      tables.cos.data[at] = static_cast<float>(std::cos(static_cast<double>(angle)) * factor);
      tables.sin.data[at] = static_cast<float>(std::sin(static_cast<double>(angle)) * factor);
    }
  }
  return tables;
}

float attention_scale(const ModelConfig& config) {
  double scale = 1.0 / std::sqrt(static_cast<double>(config.head_dim));
  if (config.mla && config.rope.scaling != RopeScaling::none && config.rope.mscale_all_dim != 0.0) {
    const double m = yarn_mscale(config.rope.factor, config.rope.mscale_all_dim);
    scale *= m * m;
  }
  return static_cast<float>(scale);
}

}  // namespace moqa::model
