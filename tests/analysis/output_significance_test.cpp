// The expert-output channel significance (significance.h, output measures) against a direct computation:
// one routed expert of the tiny Mixtral test model run through Model::run_expert with the statistics
// observer attached, and every sum recomputed here in float64 with explicit loops over the expert's weights
// (a = silu(gate·x)·(up·x), y = down·a; sensitivity as tr(ΔW H ΔWᵀ) with H built explicitly). Also
// Spearman's correlation on hand examples with ties.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "analysis/accumulators.h"
#include "analysis/significance.h"
#include "analysis/statistics_observer.h"
#include "backend/factory.h"
#include "core/error.h"
#include "io/hf_config.h"
#include "model/model.h"
#include "quant/rtn.h"
#include "support/test_support.h"

namespace moqa::analysis {
namespace {

using K = config::ChannelSignificance;

// The float32 forward against float64 loops: a few float32 ulps of the largest magnitude; 1e-5 allowed.
constexpr double kRelativeTolerance = 1e-5;

void expect_close(const std::vector<double>& actual, const std::vector<double>& expected, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double scale = 0.0;
  for (const double v : expected) scale = std::max(scale, std::fabs(v));
  ASSERT_GT(scale, 0.0) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], kRelativeTolerance * scale) << what << " [" << i << "]";
}

// W·v for W [rows, cols] row-major (float) and v (double).
std::vector<double> times(const Tensor& w, const std::vector<double>& v) {
  std::vector<double> out(static_cast<size_t>(w.dim(0)), 0.0);
  for (int64_t r = 0; r < w.dim(0); ++r)
    for (int64_t c = 0; c < w.dim(1); ++c) out[static_cast<size_t>(r)] += w.data[static_cast<size_t>(r * w.dim(1) + c)] * v[static_cast<size_t>(c)];
  return out;
}

Tensor rtn_error(const Tensor& w, const quant::QuantSpec& spec) {
  const Tensor q = quant::dequantize(quant::quantize_rtn(w, spec, "test"));
  Tensor delta = w;
  for (size_t i = 0; i < delta.data.size(); ++i) delta.data[i] = q.data[i] - w.data[i];
  return delta;
}

// tr(Δ H Δᵀ) with H = Σ_t ω_t v_t v_tᵀ built as a matrix.
double trace_error(const Tensor& delta, const std::vector<std::vector<double>>& inputs, const std::vector<double>& omega) {
  const auto n = static_cast<size_t>(delta.dim(1));
  std::vector<double> h(n * n, 0.0);
  for (size_t t = 0; t < inputs.size(); ++t)
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) h[i * n + j] += omega[t] * inputs[t][i] * inputs[t][j];
  double trace = 0.0;
  for (int64_t r = 0; r < delta.dim(0); ++r) {
    const float* d = delta.data.data() + r * delta.dim(1);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) trace += d[i] * h[i * n + j] * d[j];
  }
  return trace;
}

struct ExpertRun {
  LayerAccumulator acc;
  // The direct computation.
  std::vector<double> omega;
  std::vector<double> act_abs, act_sq, out_abs, out_sq, down_norm;  // per channel, ω-weighted sums
  double sensitivity_trace = 0.0;                                    // Σ over gate, up, down of tr(ΔW H ΔWᵀ)
};

// Expert 2 of MoE layer 1 of the tiny Mixtral on 6 pseudo-random rows, with combine weights and token
// re-weighting factors; the executor's token index of row i is tokens[i].
ExpertRun run_expert(bool sensitivity) {
  auto backend = backend::make_backend({.device = "cpu", .threads = 1});
  const auto dir = test::data_dir() / "arch" / "mixtral";
  model::Model model = model::Model::open(dir, *backend, {});
  const ModelConfig& config = model.config();
  const int64_t layer = 1, expert = 2, hidden = config.hidden_size, width = config.expert_intermediate_size;
  const quant::QuantSpec reference{.bits = 2, .group_size = 32, .symmetric = false};

  ExpertRun run;
  run.acc = make_layer_accumulator(layer, config.num_experts, hidden, config.top_k, true, width, sensitivity);
  std::vector<LayerAccumulator> layers{run.acc};
  StatisticsObserver observer(model, layers, /*gate_weighted=*/true,
                              sensitivity ? std::optional(reference) : std::nullopt);

  const int64_t n = 6;
  Tensor rows({n, hidden});
  uint32_t state = 99;
  for (float& v : rows.data) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int32_t>(state >> 8) % 2001 - 1000) / 400.0f;
  }
  const std::vector<int32_t> tokens{0, 2, 3, 5, 6, 8};
  const std::vector<float> weights{0.5f, 0.25f, 0.75f, 0.125f, 1.0f, 0.375f};
  std::vector<double> token_weights(9, 0.0);
  for (size_t t = 0; t < token_weights.size(); ++t) token_weights[t] = 0.5 + 0.25 * static_cast<double>(t % 3);
  observer.set_token_weights({}, token_weights);

  const backend::Array device_rows = backend->upload(rows);
  observer.on_expert_input({.layer = layer, .expert = expert, .rows = device_rows, .tokens = tokens, .weights = weights});
  model.run_expert(layer, expert, device_rows, &observer);
  run.acc = std::move(layers.front());

  // Direct computation.
  const Tensor gate = model.weight_tensor({layer, model::Linear::expert_gate, expert});
  const Tensor up = model.weight_tensor({layer, model::Linear::expert_up, expert});
  const Tensor down = model.weight_tensor({layer, model::Linear::expert_down, expert});
  run.act_abs.assign(static_cast<size_t>(width), 0.0);
  run.act_sq = run.act_abs;
  run.out_abs.assign(static_cast<size_t>(hidden), 0.0);
  run.out_sq = run.out_abs;
  std::vector<std::vector<double>> xs, as;
  for (int64_t i = 0; i < n; ++i) {
    const double w = token_weights[static_cast<size_t>(tokens[static_cast<size_t>(i)])] * weights[static_cast<size_t>(i)];
    run.omega.push_back(w);
    std::vector<double> x(static_cast<size_t>(hidden));
    for (int64_t c = 0; c < hidden; ++c) x[static_cast<size_t>(c)] = rows.data[static_cast<size_t>(i * hidden + c)];
    const std::vector<double> g = times(gate, x), u = times(up, x);
    std::vector<double> a(static_cast<size_t>(width));
    for (size_t k = 0; k < a.size(); ++k) a[k] = g[k] / (1.0 + std::exp(-g[k])) * u[k];
    const std::vector<double> y = times(down, a);
    for (size_t k = 0; k < a.size(); ++k) {
      run.act_abs[k] += w * std::fabs(a[k]);
      run.act_sq[k] += w * a[k] * a[k];
    }
    for (size_t c = 0; c < y.size(); ++c) {
      run.out_abs[c] += w * std::fabs(y[c]);
      run.out_sq[c] += w * y[c] * y[c];
    }
    xs.push_back(x);
    as.push_back(a);
  }
  run.down_norm.assign(static_cast<size_t>(width), 0.0);
  for (int64_t c = 0; c < hidden; ++c)
    for (int64_t k = 0; k < width; ++k) {
      const double v = down.data[static_cast<size_t>(c * width + k)];
      run.down_norm[static_cast<size_t>(k)] += v * v;
    }
  for (double& v : run.down_norm) v = std::sqrt(v);
  run.sensitivity_trace = trace_error(rtn_error(gate, reference), xs, run.omega) +
                          trace_error(rtn_error(up, reference), xs, run.omega) +
                          trace_error(rtn_error(down, reference), as, run.omega);
  return run;
}

// The rows of one expert of an [E*W] array.
std::vector<double> expert_row(const std::vector<double>& values, int64_t expert, int64_t width) {
  return {values.begin() + expert * width, values.begin() + (expert + 1) * width};
}

TEST(AnalysisOutputSignificance, OwnerSumsEqualADirectComputationOfTheExpert) {
  const ExpertRun run = run_expert(false);
  const LayerAccumulator& acc = run.acc;
  const int64_t f = acc.intermediate, c = acc.channels;
  double mass = 0.0;
  for (const double w : run.omega) mass += w;
  EXPECT_NEAR(acc.out_weight_mass[2], mass, 1e-12);
  for (int64_t e = 0; e < acc.experts; ++e) {
    if (e == 2) continue;  // only the expert that ran has mass
    EXPECT_EQ(acc.out_weight_mass[static_cast<size_t>(e)], 0.0);
  }
  expect_close(expert_row(acc.act_weighted_abs_sum, 2, f), run.act_abs, "Σ ω|a|");
  expect_close(expert_row(acc.act_weighted_sq_sum, 2, f), run.act_sq, "Σ ω a²");
  expect_close(expert_row(acc.out_weighted_abs_sum, 2, c), run.out_abs, "Σ ω|y|");
  expect_close(expert_row(acc.out_weighted_sq_sum, 2, c), run.out_sq, "Σ ω y²");
  EXPECT_TRUE(acc.sensitivity_act.empty());
}

TEST(AnalysisOutputSignificance, EachOutputMeasureAgainstItsDefinition) {
  const ExpertRun run = run_expert(false);
  const LayerAccumulator& acc = run.acc;
  const int64_t f = acc.intermediate, c = acc.channels;
  const double mass = acc.out_weight_mass[2];
  std::vector<double> mean_y(run.out_abs), mean_a(run.act_abs), saliency(run.act_abs);
  for (double& v : mean_y) v /= mass;
  for (double& v : mean_a) v /= mass;
  for (size_t k = 0; k < saliency.size(); ++k) saliency[k] = mean_a[k] * run.down_norm[k];

  // output_mean_abs: S_ch = mean |y_c|, S_act = mean |a_k|, num = M'·Σ_c S_ch = Σ_t ω ‖y_t‖₁.
  expect_close(expert_row(channel_significance(acc, K::output_mean_abs, {}), 2, c), mean_y, "S_ch output_mean_abs");
  expect_close(expert_row(activation_significance(acc, K::output_mean_abs, {}), 2, f), mean_a, "S_act output_mean_abs");
  double sum_y = 0.0;
  for (const double v : run.out_abs) sum_y += v;
  const auto s_ch = channel_significance(acc, K::output_mean_abs, {});
  const auto s_act = activation_significance(acc, K::output_mean_abs, {});
  const auto num = expert_numerators(acc, K::output_mean_abs, s_ch, s_act, true);
  EXPECT_NEAR(num[2], sum_y, kRelativeTolerance * sum_y);
  EXPECT_EQ(num[0], 0.0);

  // output_saliency: S_act = mean |a_k| · ‖down[:, k]‖ (norms as the owner computes them), num = M'·Σ_k S_act.
  std::vector<double> norms(static_cast<size_t>(acc.experts * f), 0.0);
  std::copy(run.down_norm.begin(), run.down_norm.end(), norms.begin() + 2 * f);
  const auto sal = activation_significance(acc, K::output_saliency, norms);
  expect_close(expert_row(sal, 2, f), saliency, "S_act output_saliency");
  double sum_saliency = 0.0;
  for (const double v : saliency) sum_saliency += v * mass;
  const auto num_saliency =
      expert_numerators(acc, K::output_saliency, channel_significance(acc, K::output_saliency, {}), sal, true);
  EXPECT_NEAR(num_saliency[2], sum_saliency, kRelativeTolerance * sum_saliency);
  EXPECT_THROW(activation_significance(acc, K::output_saliency, {}), Error);

  // Input-side measures have no S_act; sensitivity needs sums that were not accumulated.
  EXPECT_TRUE(activation_significance(acc, K::mean_abs, {}).empty());
  EXPECT_THROW(channel_significance(acc, K::sensitivity, {}), Error);
}

TEST(AnalysisOutputSignificance, SensitivityIsTheTraceOfTheWeightErrorThroughTheHessian) {
  const ExpertRun run = run_expert(true);
  const LayerAccumulator& acc = run.acc;
  const auto s_ch = channel_significance(acc, K::sensitivity, {});
  const auto s_act = activation_significance(acc, K::sensitivity, {});
  const auto num = expert_numerators(acc, K::sensitivity, s_ch, s_act, true);
  ASSERT_GT(run.sensitivity_trace, 0.0);
  EXPECT_NEAR(num[2], run.sensitivity_trace, 1e-4 * run.sensitivity_trace);
  EXPECT_EQ(num[1], 0.0);
}

TEST(AnalysisSpearman, HandExamplesWithTies) {
  // Same order, reversed order.
  EXPECT_DOUBLE_EQ(spearman(std::vector<double>{1, 2, 3, 4}, std::vector<double>{10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman(std::vector<double>{1, 2, 3, 4}, std::vector<double>{4, 3, 2, 1}), -1.0);
  // a = [1, 2, 2, 3] -> ranks [1, 2.5, 2.5, 4]; b = [1, 3, 2, 4] -> ranks [1, 3, 2, 4].
  // Centred (mean 2.5): ra [-1.5, 0, 0, 1.5], rb [-1.5, .5, -.5, 1.5]; cov 4.5, |ra|² 4.5, |rb|² 5.
  EXPECT_DOUBLE_EQ(spearman(std::vector<double>{1, 2, 2, 3}, std::vector<double>{1, 3, 2, 4}), 4.5 / std::sqrt(4.5 * 5));
  // Ties on both sides: a = [5, 5, 1], b = [2, 7, 7] -> ranks [2.5, 2.5, 1] and [1, 2.5, 2.5];
  // centred [.5, .5, -1] and [-1, .5, .5]: cov -.75, both norms 1.5 -> -0.5.
  EXPECT_DOUBLE_EQ(spearman(std::vector<double>{5, 5, 1}, std::vector<double>{2, 7, 7}), -0.5);
  // Nothing to rank: NaN.
  EXPECT_TRUE(std::isnan(spearman(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman(std::vector<double>{1}, std::vector<double>{2})));
  EXPECT_THROW(spearman(std::vector<double>{1, 2}, std::vector<double>{1}), Error);
}

}  // namespace
}  // namespace moqa::analysis
