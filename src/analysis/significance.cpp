#include "analysis/significance.h"

#include <cmath>

#include "core/error.h"

namespace moqa::analysis {

std::vector<double> channel_significance(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                         std::span<const double> column_norms) {
  using config::ChannelSignificance;
  const size_t experts = static_cast<size_t>(acc.experts), channels = static_cast<size_t>(acc.channels);
  if (kind == ChannelSignificance::saliency)
    MOQA_CHECK(column_norms.size() == experts * channels, "analysis: layer ", acc.layer,
               ": saliency needs the weight column norms of ", experts, " x ", channels, " channels, got ",
               column_norms.size(), " values");
  std::vector<double> s(experts * channels, 0.0);
  for (size_t e = 0; e < experts; ++e) {
    const double mass = acc.weight_mass[e];
    if (!(mass > 0.0)) continue;
    for (size_t c = 0; c < channels; ++c) {
      const size_t i = e * channels + c;
      switch (kind) {
        case ChannelSignificance::mean_abs: s[i] = acc.weighted_abs_sum[i] / mass; break;
        case ChannelSignificance::rms: s[i] = std::sqrt(acc.weighted_sq_sum[i] / mass); break;
        case ChannelSignificance::saliency: s[i] = acc.weighted_abs_sum[i] / mass * column_norms[i]; break;
        case ChannelSignificance::hessian_diag: s[i] = 2.0 * acc.weighted_sq_sum[i] / mass; break;
      }
    }
  }
  return s;
}

std::vector<double> expert_numerators(const LayerAccumulator& acc, std::span<const double> channel_significance,
                                      bool significance) {
  const size_t experts = static_cast<size_t>(acc.experts), channels = static_cast<size_t>(acc.channels);
  std::vector<double> num(experts, 0.0);
  for (size_t e = 0; e < experts; ++e) {
    if (!significance) {
      num[e] = acc.weight_mass[e];
      continue;
    }
    MOQA_CHECK(channel_significance.size() == experts * channels, "analysis: layer ", acc.layer, ": ",
               channel_significance.size(), " channel significances, expected ", experts * channels);
    double sum = 0.0;
    for (size_t c = 0; c < channels; ++c) sum += channel_significance[e * channels + c];
    num[e] = acc.weight_mass[e] * sum;
  }
  return num;
}

std::vector<double> normalise(std::span<const double> values) {
  double total = 0.0;
  for (const double v : values) total += v;
  std::vector<double> out(values.size(), 0.0);
  if (!(total > 0.0)) return out;
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i] / total;
  return out;
}

std::vector<double> routed_fraction(const LayerAccumulator& acc) {
  std::vector<double> out(static_cast<size_t>(acc.experts), 0.0);
  const int64_t slots = acc.slots();
  if (slots == 0) return out;
  for (size_t e = 0; e < out.size(); ++e)
    out[e] = static_cast<double>(acc.routed_count[e]) / static_cast<double>(slots);
  return out;
}

std::vector<double> phi_correlation(std::span<const int64_t> coactivation, int64_t experts, int64_t tokens) {
  const auto n = static_cast<size_t>(experts);
  MOQA_CHECK(coactivation.size() == n * n, "analysis: ", coactivation.size(), " co-activation counts for ", experts,
             " experts");
  std::vector<double> phi(n * n, 0.0);
  const double total = static_cast<double>(tokens);
  for (size_t i = 0; i < n; ++i) {
    const double ci = static_cast<double>(coactivation[i * n + i]);
    for (size_t j = 0; j < n; ++j) {
      const double cj = static_cast<double>(coactivation[j * n + j]);
      const double denominator = ci * (total - ci) * cj * (total - cj);
      if (!(denominator > 0.0)) continue;
      phi[i * n + j] = (total * static_cast<double>(coactivation[i * n + j]) - ci * cj) / std::sqrt(denominator);
    }
  }
  return phi;
}

SignificanceFit fit_significance(const std::vector<std::vector<double>>& per_distribution) {
  MOQA_CHECK(!per_distribution.empty(), "analysis: fitting expert significance over no calibration distribution");
  const size_t experts = per_distribution.front().size();
  for (const auto& s : per_distribution)
    MOQA_CHECK(s.size() == experts, "analysis: S_exp of ", s.size(), " experts next to one of ", experts);
  const double d = static_cast<double>(per_distribution.size());
  SignificanceFit fit{std::vector<double>(experts, 0.0), std::vector<double>(experts, 0.0)};
  for (size_t e = 0; e < experts; ++e) {
    double sum = 0.0;
    for (const auto& s : per_distribution) sum += s[e];
    const double mean = sum / d;
    double sq = 0.0;
    for (const auto& s : per_distribution) sq += (s[e] - mean) * (s[e] - mean);
    fit.mean[e] = mean;
    fit.variance[e] = sq / d;
  }
  return fit;
}

LayerStatistics derive_layer_statistics(LayerAccumulator sums, std::vector<double> column_norms,
                                        const config::AnalysisSection& options) {
  LayerStatistics out;
  out.sums = std::move(sums);
  out.column_norms = std::move(column_norms);
  const LayerAccumulator& acc = out.sums;
  out.routed_fraction = routed_fraction(acc);
  out.channel_significance = channel_significance(acc, options.channel_significance, out.column_norms);
  out.expert_numerator = expert_numerators(acc, out.channel_significance, options.significance);
  out.expert_significance = normalise(out.expert_numerator);
  if (acc.coactivation_enabled) out.correlation = phi_correlation(acc.coactivation, acc.experts, acc.tokens);
  return out;
}

}  // namespace moqa::analysis
