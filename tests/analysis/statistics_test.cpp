// The accumulators and every derived quantity on a hand-made routing whose results are worked out by
// hand (values are binary fractions, so float64 sums are exact and compared with ==).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "analysis/accumulators.h"
#include "analysis/significance.h"
#include "analysis/token_weights.h"
#include "core/error.h"

namespace moqa::analysis {
namespace {

// 3 tokens, 2 channels, 3 experts, top-2:
//   token 0 -> experts 0 (g .75), 1 (.25)   x = [ 1, -2 ]   r = 1
//   token 1 -> experts 1 (.5),   2 (.5)     x = [ 3, .5 ]   r = 2
//   token 2 -> experts 0 (.25),  1 (.75)    x = [-1,  4 ]   r = .5
struct Example {
  std::vector<float> x{1, -2, 3, 0.5f, -1, 4};
  std::vector<float> scores{0.5f, 0.25f, 0.25f, 0.125f, 0.625f, 0.25f, 0.375f, 0.375f, 0.25f};
  backend::Routing routing{.tokens = 3, .top_k = 2, .experts = {0, 1, 1, 2, 0, 1},
                           .weights = {0.75f, 0.25f, 0.5f, 0.5f, 0.25f, 0.75f}};
  std::vector<double> r{1.0, 2.0, 0.5};

  LayerAccumulator run(bool gate_weighted, bool coactivation = true) const {
    LayerAccumulator acc = make_layer_accumulator(7, 3, 2, 2, coactivation);
    accumulate(acc, {.inputs = x, .scores = scores, .routing = routing, .token_weights = r}, gate_weighted);
    return acc;
  }
};

TEST(AnalysisAccumulator, SumsCountsAndMaximaOfAHandMadeRouting) {
  const LayerAccumulator acc = Example{}.run(/*gate_weighted=*/true);
  EXPECT_EQ(acc.layer, 7);
  EXPECT_EQ(acc.tokens, 3);
  EXPECT_EQ(acc.slots(), 6);
  EXPECT_EQ(acc.routed_count, (std::vector<int64_t>{2, 3, 1}));
  EXPECT_EQ(acc.coactivation, (std::vector<int64_t>{2, 2, 0, 2, 3, 1, 0, 1, 1}));
  EXPECT_EQ(acc.token_weight_sum, 3.5);
  EXPECT_EQ(acc.gate_mass, (std::vector<double>{1.0, 1.5, 0.5}));
  EXPECT_EQ(acc.router_prob_mass, (std::vector<double>{1.0, 1.25, 0.75}));
  // ω = r·g: t0e0 .75, t0e1 .25, t1e1 1, t1e2 1, t2e0 .125, t2e1 .375
  EXPECT_EQ(acc.weight_mass, (std::vector<double>{0.875, 1.625, 1.0}));
  EXPECT_EQ(acc.abs_sum, (std::vector<double>{2, 6, 5, 6.5, 3, 0.5}));
  EXPECT_EQ(acc.sq_sum, (std::vector<double>{2, 20, 11, 20.25, 9, 0.25}));
  EXPECT_EQ(acc.abs_max, (std::vector<double>{1, 4, 3, 4, 3, 0.5}));
  EXPECT_EQ(acc.weighted_abs_sum, (std::vector<double>{0.875, 2, 3.625, 2.5, 3, 0.5}));
  EXPECT_EQ(acc.weighted_sq_sum, (std::vector<double>{0.875, 5, 9.625, 7.25, 9, 0.25}));
}

TEST(AnalysisAccumulator, WithoutGateWeightingOnlyTheTokenWeightsCount) {
  const LayerAccumulator acc = Example{}.run(/*gate_weighted=*/false);
  EXPECT_EQ(acc.weight_mass, (std::vector<double>{1.5, 3.5, 2.0}));
  EXPECT_EQ(acc.weighted_abs_sum, (std::vector<double>{1.5, 4, 7.5, 5, 6, 1}));
  EXPECT_EQ(acc.gate_mass, (std::vector<double>{1.0, 1.5, 0.5}));  // measured regardless
}

TEST(AnalysisAccumulator, CoactivationCanBeSwitchedOff) {
  const LayerAccumulator acc = Example{}.run(true, /*coactivation=*/false);
  EXPECT_TRUE(acc.coactivation.empty());
  EXPECT_EQ(acc.routed_count, (std::vector<int64_t>{2, 3, 1}));
}

TEST(AnalysisAccumulator, MergingSplitsEqualsOneAccumulation) {
  const Example ex;
  const LayerAccumulator whole = ex.run(true);
  // Tokens {0, 1} and {2} in two accumulators.
  LayerAccumulator a = make_layer_accumulator(7, 3, 2, 2, true), b = a;
  const backend::Routing first{.tokens = 2, .top_k = 2, .experts = {0, 1, 1, 2}, .weights = {0.75f, 0.25f, 0.5f, 0.5f}};
  const backend::Routing second{.tokens = 1, .top_k = 2, .experts = {0, 1}, .weights = {0.25f, 0.75f}};
  accumulate(a, {.inputs = std::span(ex.x).first(4), .scores = std::span(ex.scores).first(6), .routing = first,
                 .token_weights = std::span(ex.r).first(2)}, true);
  accumulate(b, {.inputs = std::span(ex.x).subspan(4), .scores = std::span(ex.scores).subspan(6), .routing = second,
                 .token_weights = std::span(ex.r).subspan(2)}, true);
  merge(a, b);
  EXPECT_EQ(a.routed_count, whole.routed_count);
  EXPECT_EQ(a.coactivation, whole.coactivation);
  EXPECT_EQ(a.abs_max, whole.abs_max);
  EXPECT_EQ(a.weighted_sq_sum, whole.weighted_sq_sum);
  EXPECT_EQ(a.router_prob_mass, whole.router_prob_mass);
  EXPECT_EQ(a.tokens, 3);
}

TEST(AnalysisAccumulator, RejectsInconsistentInput) {
  const Example ex;
  LayerAccumulator acc = make_layer_accumulator(7, 3, 2, 2, true);
  backend::Routing outside = ex.routing;
  outside.experts[3] = 3;
  EXPECT_THROW(accumulate(acc, {.inputs = ex.x, .scores = ex.scores, .routing = outside, .token_weights = ex.r}, true),
               Error);
  backend::Routing twice = ex.routing;
  twice.experts[1] = 0;
  EXPECT_THROW(accumulate(acc, {.inputs = ex.x, .scores = ex.scores, .routing = twice, .token_weights = ex.r}, true),
               Error);
  EXPECT_THROW(accumulate(acc, {.inputs = std::span(ex.x).first(4), .scores = ex.scores, .routing = ex.routing,
                                .token_weights = ex.r},
                          true),
               Error);
  EXPECT_THROW(make_layer_accumulator(0, 2, 4, 3, true), Error);  // top-3 of 2 experts
}

TEST(AnalysisAccumulator, RejectsNonFiniteValuesNamingTheToken) {
  const Example ex;
  LayerAccumulator acc = make_layer_accumulator(7, 3, 2, 2, true);
  const auto expect_error = [&](const RoutedBatch& batch, const std::string& needle) {
    try {
      accumulate(acc, batch, true);
      FAIL() << "expected moqa::Error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::vector<float> x = ex.x;
  x[3] = std::nanf("");
  expect_error({.inputs = x, .scores = ex.scores, .routing = ex.routing, .token_weights = ex.r}, "token 1, channel 1");
  std::vector<float> scores = ex.scores;
  scores[8] = INFINITY;
  expect_error({.inputs = ex.x, .scores = scores, .routing = ex.routing, .token_weights = ex.r}, "token 2");
  backend::Routing routing = ex.routing;
  routing.weights[0] = std::nanf("");
  expect_error({.inputs = ex.x, .scores = ex.scores, .routing = routing, .token_weights = ex.r}, "combine weight");
  const std::vector<double> r{1.0, -1.0, 1.0};
  expect_error({.inputs = ex.x, .scores = ex.scores, .routing = ex.routing, .token_weights = r}, "token 1");
}

TEST(AnalysisSignificance, ChannelSignificanceKinds) {
  const LayerAccumulator acc = Example{}.run(true);
  using K = config::ChannelSignificance;
  const std::vector<double> mean_abs = channel_significance(acc, K::mean_abs, {});
  EXPECT_DOUBLE_EQ(mean_abs[0], 1.0);
  EXPECT_DOUBLE_EQ(mean_abs[1], 2.0 / 0.875);
  EXPECT_DOUBLE_EQ(mean_abs[4], 3.0);
  const std::vector<double> hessian = channel_significance(acc, K::hessian_diag, {});
  EXPECT_DOUBLE_EQ(hessian[3], 2.0 * 7.25 / 1.625);
  const std::vector<double> rms = channel_significance(acc, K::rms, {});
  EXPECT_DOUBLE_EQ(rms[2], std::sqrt(9.625 / 1.625));
  const std::vector<double> norms{1, 2, 3, 4, 0.5, 0.5};
  const std::vector<double> saliency = channel_significance(acc, K::saliency, norms);
  EXPECT_DOUBLE_EQ(saliency[1], 2.0 / 0.875 * 2.0);
  EXPECT_DOUBLE_EQ(saliency[3], 2.5 / 1.625 * 4.0);
  EXPECT_THROW(channel_significance(acc, K::saliency, {}), Error);
}

TEST(AnalysisSignificance, ExpertSignificanceFollowsEquationOne) {
  const LayerAccumulator acc = Example{}.run(true);
  using K = config::ChannelSignificance;
  // mean_abs: num_j = Σ_c Σ_t ω|x| = [2.875, 6.125, 3.5], total 12.5
  const auto s_ch = channel_significance(acc, K::mean_abs, {});
  const auto num = expert_numerators(acc, K::mean_abs, s_ch, {}, true);
  EXPECT_DOUBLE_EQ(num[0], 2.875);
  EXPECT_DOUBLE_EQ(num[1], 6.125);
  EXPECT_DOUBLE_EQ(num[2], 3.5);
  const auto s_exp = normalise(num);
  EXPECT_DOUBLE_EQ(s_exp[0], 0.23);
  EXPECT_DOUBLE_EQ(s_exp[1], 0.49);
  EXPECT_DOUBLE_EQ(s_exp[2], 0.28);
  // hessian_diag: num_j = 2 Σ ω x² = [11.75, 33.75, 18.5], total 64
  const auto h = normalise(expert_numerators(acc, K::hessian_diag, channel_significance(acc, K::hessian_diag, {}), {}, true));
  EXPECT_DOUBLE_EQ(h[0], 11.75 / 64);
  EXPECT_DOUBLE_EQ(h[1], 33.75 / 64);
  // significance off: the weight mass [.875, 1.625, 1]
  const auto off = normalise(expert_numerators(acc, K::mean_abs, s_ch, {}, false));
  EXPECT_DOUBLE_EQ(off[0], 0.25);
  EXPECT_DOUBLE_EQ(off[2], 1.0 / 3.5);
  // nothing routed: all zero, no division by zero
  const LayerAccumulator empty = make_layer_accumulator(0, 3, 2, 2, true);
  EXPECT_EQ(normalise(expert_numerators(empty, K::rms, channel_significance(empty, K::rms, {}), {}, true)),
            (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(routed_fraction(empty), (std::vector<double>{0, 0, 0}));
}

TEST(AnalysisSignificance, RoutedFractionAndPhiCorrelation) {
  const LayerAccumulator acc = Example{}.run(true);
  const auto fraction = routed_fraction(acc);
  EXPECT_DOUBLE_EQ(fraction[0], 2.0 / 6);
  EXPECT_DOUBLE_EQ(fraction[1], 3.0 / 6);
  EXPECT_DOUBLE_EQ(fraction[2], 1.0 / 6);
  const auto phi = phi_correlation(acc.coactivation, 3, acc.tokens);
  // expert 1 is always routed (constant indicator): its row and column are 0
  EXPECT_EQ(phi, (std::vector<double>{1, 0, -1, 0, 0, 0, -1, 0, 1}));
  // two experts that always fire together, and one that never does, over 4 tokens
  const std::vector<int64_t> c{2, 2, 0, 2, 2, 0, 0, 0, 0};
  EXPECT_EQ(phi_correlation(c, 3, 4), (std::vector<double>{1, 1, 0, 1, 1, 0, 0, 0, 0}));
}

TEST(AnalysisSignificance, DerivedLayerStatistics) {
  config::AnalysisSection options;
  options.channel_significance = config::ChannelSignificance::mean_abs;
  const LayerStatistics s = derive_layer_statistics(Example{}.run(true), {}, {}, options);
  EXPECT_DOUBLE_EQ(s.expert_significance[1], 0.49);
  EXPECT_EQ(s.correlation.size(), 9u);
  options.correlation = false;
  const LayerStatistics without = derive_layer_statistics(Example{}.run(true, false), {}, {}, options);
  EXPECT_TRUE(without.correlation.empty());
}

TEST(AnalysisSignificance, FitIsMeanAndPopulationVariance) {
  const SignificanceFit fit = fit_significance({{0.25, 0.75}, {0.75, 0.25}, {0.5, 0.5}});
  EXPECT_DOUBLE_EQ(fit.mean[0], 0.5);
  EXPECT_DOUBLE_EQ(fit.mean[1], 0.5);
  EXPECT_DOUBLE_EQ(fit.variance[0], (0.0625 + 0.0625 + 0.0) / 3);
  const SignificanceFit single = fit_significance({{0.1, 0.9}});
  EXPECT_EQ(single.variance, (std::vector<double>{0, 0}));
  EXPECT_THROW(fit_significance({}), Error);
  EXPECT_THROW(fit_significance({{0.5, 0.5}, {1.0}}), Error);
}

TEST(AnalysisTokenWeights, InverseFrequencyPowerNormalisedToMeanOne) {
  // windows [5 5 5] and [7 7 9]: f(5) = 3, f(7) = 2, f(9) = 1
  const std::vector<int32_t> stream{5, 5, 5, 7, 7, 9, 11};
  const std::vector<int64_t> starts{0, 3};
  const auto w = token_reweighting(stream, starts, 3, 1.0);
  ASSERT_EQ(w.size(), 10u);  // ids up to 9; id 11 is not in any window
  EXPECT_DOUBLE_EQ(w[5], 2.0 / 3);
  EXPECT_DOUBLE_EQ(w[7], 1.0);
  EXPECT_DOUBLE_EQ(w[9], 2.0);
  EXPECT_EQ(w[0], 0.0);
  EXPECT_DOUBLE_EQ((3 * w[5] + 2 * w[7] + w[9]) / 6, 1.0);
  const auto flat = token_reweighting(stream, starts, 3, 0.0);
  EXPECT_EQ(flat[5], 1.0);
  EXPECT_EQ(flat[9], 1.0);
  // a window drawn twice counts twice
  const auto twice = token_reweighting(stream, std::vector<int64_t>{0, 0, 3}, 3, 1.0);
  EXPECT_GT(twice[9], w[9]);
  // a large `a` underflows f^(-a) for every id; the weights stay finite and still average 1
  const auto steep = token_reweighting(stream, starts, 3, 2000.0);
  EXPECT_EQ(steep[5], 0.0);
  EXPECT_EQ(steep[7], 0.0);
  EXPECT_DOUBLE_EQ(steep[9], 6.0);
  EXPECT_THROW(token_reweighting(stream, starts, 3, -1.0), Error);
  EXPECT_THROW(token_reweighting(stream, std::vector<int64_t>{5}, 3, 1.0), Error);
}

}  // namespace
}  // namespace moqa::analysis
