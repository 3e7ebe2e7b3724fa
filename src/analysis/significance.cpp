#include "analysis/significance.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace moqa::analysis {

bool is_output_side(config::ChannelSignificance kind) {
  using config::ChannelSignificance;
  return kind == ChannelSignificance::output_mean_abs || kind == ChannelSignificance::output_saliency ||
         kind == ChannelSignificance::sensitivity;
}

namespace {

void check_output_side(const LayerAccumulator& acc, config::ChannelSignificance kind) {
  MOQA_CHECK(acc.intermediate > 0 && (kind != config::ChannelSignificance::sensitivity || acc.sensitivity_enabled),
             "analysis: layer ", acc.layer, ": channel significance \"", config::name_of(kind),
             "\" needs the experts' output statistics, which were not accumulated");
}

// The mass that divides expert e's sums: the owner's for output measures (the same rows as the sums).
double mass_of(const LayerAccumulator& acc, config::ChannelSignificance kind, size_t e) {
  return is_output_side(kind) ? acc.out_weight_mass[e] : acc.weight_mass[e];
}

double sum_of(std::span<const double> values, size_t first, size_t count) {
  double sum = 0.0;
  for (size_t i = first; i < first + count; ++i) sum += values[i];
  return sum;
}

}  // namespace

std::vector<double> channel_significance(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                         std::span<const double> column_norms) {
  using config::ChannelSignificance;
  const size_t experts = static_cast<size_t>(acc.experts), channels = static_cast<size_t>(acc.channels);
  if (kind == ChannelSignificance::saliency)
    MOQA_CHECK(column_norms.size() == experts * channels, "analysis: layer ", acc.layer,
               ": saliency needs the weight column norms of ", experts, " x ", channels, " channels, got ",
               column_norms.size(), " values");
  if (is_output_side(kind)) check_output_side(acc, kind);
  std::vector<double> s(experts * channels, 0.0);
  for (size_t e = 0; e < experts; ++e) {
    const double mass = mass_of(acc, kind, e);
    if (!(mass > 0.0)) continue;
    for (size_t c = 0; c < channels; ++c) {
      const size_t i = e * channels + c;
      switch (kind) {
        case ChannelSignificance::mean_abs: s[i] = acc.weighted_abs_sum[i] / mass; break;
        case ChannelSignificance::rms: s[i] = std::sqrt(acc.weighted_sq_sum[i] / mass); break;
        case ChannelSignificance::saliency: s[i] = acc.weighted_abs_sum[i] / mass * column_norms[i]; break;
        case ChannelSignificance::hessian_diag: s[i] = 2.0 * acc.weighted_sq_sum[i] / mass; break;
        case ChannelSignificance::output_mean_abs:
        case ChannelSignificance::output_saliency: s[i] = acc.out_weighted_abs_sum[i] / mass; break;
        case ChannelSignificance::sensitivity: s[i] = acc.sensitivity_out[i] / mass; break;
      }
    }
  }
  return s;
}

std::vector<double> activation_significance(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                            std::span<const double> down_column_norms) {
  using config::ChannelSignificance;
  if (!is_output_side(kind)) return {};
  check_output_side(acc, kind);
  const size_t experts = static_cast<size_t>(acc.experts), width = static_cast<size_t>(acc.intermediate);
  if (kind == ChannelSignificance::output_saliency)
    MOQA_CHECK(down_column_norms.size() == experts * width, "analysis: layer ", acc.layer,
               ": output_saliency needs the down projection column norms of ", experts, " x ", width,
               " channels, got ", down_column_norms.size(), " values");
  std::vector<double> s(experts * width, 0.0);
  for (size_t e = 0; e < experts; ++e) {
    const double mass = acc.out_weight_mass[e];
    if (!(mass > 0.0)) continue;
    for (size_t k = 0; k < width; ++k) {
      const size_t i = e * width + k;
      switch (kind) {
        case ChannelSignificance::output_mean_abs: s[i] = acc.act_weighted_abs_sum[i] / mass; break;
        case ChannelSignificance::output_saliency:
          s[i] = acc.act_weighted_abs_sum[i] / mass * down_column_norms[i];
          break;
        case ChannelSignificance::sensitivity: s[i] = acc.sensitivity_act[i] / mass; break;
        default: break;
      }
    }
  }
  return s;
}

std::vector<double> expert_numerators(const LayerAccumulator& acc, config::ChannelSignificance kind,
                                      std::span<const double> channel_significance,
                                      std::span<const double> activation_significance, bool significance) {
  using config::ChannelSignificance;
  const size_t experts = static_cast<size_t>(acc.experts), channels = static_cast<size_t>(acc.channels);
  const size_t width = static_cast<size_t>(acc.intermediate);
  std::vector<double> num(experts, 0.0);
  if (!significance) {
    for (size_t e = 0; e < experts; ++e) num[e] = acc.weight_mass[e];
    return num;
  }
  MOQA_CHECK(channel_significance.size() == experts * channels, "analysis: layer ", acc.layer, ": ",
             channel_significance.size(), " channel significances, expected ", experts * channels);
  const bool hidden = kind != ChannelSignificance::output_saliency;
  const bool activations = kind == ChannelSignificance::output_saliency || kind == ChannelSignificance::sensitivity;
  if (activations)
    MOQA_CHECK(activation_significance.size() == experts * width, "analysis: layer ", acc.layer, ": ",
               activation_significance.size(), " activation significances, expected ", experts * width);
  for (size_t e = 0; e < experts; ++e) {
    double sum = 0.0;
    if (hidden) sum += sum_of(channel_significance, e * channels, channels);
    if (activations) sum += sum_of(activation_significance, e * width, width);
    num[e] = mass_of(acc, kind, e) * sum;
  }
  return num;
}

namespace {

// 1-based ranks, ties sharing the average of the ranks they span.
std::vector<double> average_ranks(std::span<const double> values) {
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(values.size(), 0.0);
  for (size_t first = 0; first < order.size();) {
    size_t last = first + 1;
    while (last < order.size() && values[order[last]] == values[order[first]]) ++last;
    const double shared = 0.5 * static_cast<double>(first + 1 + last);  // mean of ranks first+1 .. last
    for (size_t i = first; i < last; ++i) rank[order[i]] = shared;
    first = last;
  }
  return rank;
}

}  // namespace

double spearman(std::span<const double> a, std::span<const double> b) {
  MOQA_CHECK(a.size() == b.size(), "analysis: Spearman correlation of ", a.size(), " and ", b.size(), " values");
  for (size_t i = 0; i < a.size(); ++i)
    MOQA_CHECK(std::isfinite(a[i]) && std::isfinite(b[i]), "analysis: Spearman correlation of a non-finite value (",
               a[i], ", ", b[i], ") at ", i);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (a.size() < 2) return nan;
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double mean = 0.5 * static_cast<double>(a.size() + 1);  // the mean of any set of average ranks
  double cov = 0.0, va = 0.0, vb = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) * (ra[i] - mean);
    vb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (!(va > 0.0 && vb > 0.0)) return nan;
  return cov / std::sqrt(va * vb);
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
                                        std::vector<double> down_column_norms, const config::AnalysisSection& options) {
  LayerStatistics out;
  out.sums = std::move(sums);
  out.column_norms = std::move(column_norms);
  out.down_column_norms = std::move(down_column_norms);
  const LayerAccumulator& acc = out.sums;
  const config::ChannelSignificance kind = options.channel_significance;
  out.routed_fraction = routed_fraction(acc);
  out.channel_significance = channel_significance(acc, kind, out.column_norms);
  out.activation_significance = activation_significance(acc, kind, out.down_column_norms);
  out.expert_numerator =
      expert_numerators(acc, kind, out.channel_significance, out.activation_significance, options.significance);
  out.expert_significance = normalise(out.expert_numerator);
  out.spearman_gate_mass = spearman(out.expert_significance, acc.gate_mass);
  if (acc.coactivation_enabled) out.correlation = phi_correlation(acc.coactivation, acc.experts, acc.tokens);
  return out;
}

}  // namespace moqa::analysis
