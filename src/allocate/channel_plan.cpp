#include "allocate/channel_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace moqa::allocate {

ChannelChangeMeasure channel_change_measure_from_string(std::string_view name) {
  if (name == "variance") return ChannelChangeMeasure::variance;
  if (name == "range") return ChannelChangeMeasure::range;
  fail("analysis.channel_measure: found \"", name, "\", expected one of \"variance\", \"range\"");
}

std::string to_string(ChannelChangeMeasure measure) {
  return measure == ChannelChangeMeasure::variance ? "variance" : "range";
}

std::vector<double> channel_change(const Tensor& s_ch, ChannelChangeMeasure measure) {
  MOQA_CHECK(s_ch.rank() == 2, "channel plan: S_ch has shape ", moqa::to_string(s_ch.shape),
             ", expected [datasets, channels]");
  const int64_t datasets = s_ch.dim(0);
  const int64_t channels = s_ch.dim(1);
  MOQA_CHECK(datasets >= 2, "channel plan: S_ch has ", datasets,
             " calibration distribution(s), expected at least 2 to measure cross-distribution change");
  MOQA_CHECK(channels >= 1, "channel plan: S_ch has no channels");

  std::vector<double> normalised(static_cast<size_t>(datasets * channels));
  for (int64_t d = 0; d < datasets; ++d) {
    const auto row = s_ch.row(d);
    double total = 0.0;
    for (int64_t c = 0; c < channels; ++c) {
      const float value = row[static_cast<size_t>(c)];
      MOQA_CHECK(std::isfinite(value) && value >= 0.0f, "channel plan: S_ch[", d, "][", c, "] = ", value,
                 ", expected a finite number >= 0");
      total += value;
    }
    // A dataset that never reached this expert has an all-zero row; it stays zero rather than 0/0.
    for (int64_t c = 0; c < channels; ++c)
      normalised[static_cast<size_t>(d * channels + c)] = total > 0.0 ? row[static_cast<size_t>(c)] / total : 0.0;
  }

  std::vector<double> change(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    double low = INFINITY, high = -INFINITY, sum = 0.0;
    for (int64_t d = 0; d < datasets; ++d) {
      const double v = normalised[static_cast<size_t>(d * channels + c)];
      low = std::min(low, v);
      high = std::max(high, v);
      sum += v;
    }
    if (measure == ChannelChangeMeasure::range) {
      change[static_cast<size_t>(c)] = high - low;
      continue;
    }
    const double mean = sum / static_cast<double>(datasets);
    double squares = 0.0;
    for (int64_t d = 0; d < datasets; ++d) {
      const double deviation = normalised[static_cast<size_t>(d * channels + c)] - mean;
      squares += deviation * deviation;
    }
    change[static_cast<size_t>(c)] = squares / static_cast<double>(datasets);
  }
  return change;
}

int64_t dynamic_channel_count(int64_t channels, double fraction) {
  // Rounded up (S5's caches are 1.02-1.06% of the weights), with slack so 0.01 x 1400 stays 14.
  return std::clamp<int64_t>(static_cast<int64_t>(std::ceil(fraction * static_cast<double>(channels) - 1e-9)), 1,
                             channels);
}

ChannelSelection select_dynamic_channels(const Tensor& s_ch, const ChannelPlanOptions& options) {
  MOQA_CHECK(std::isfinite(options.fraction) && options.fraction > 0.0 && options.fraction <= 1.0,
             "analysis.channel_fraction: found ", options.fraction, ", expected 0 < fraction <= 1");
  const std::vector<double> change = channel_change(s_ch, options.measure);
  const int64_t channels = static_cast<int64_t>(change.size());
  const int64_t keep = dynamic_channel_count(channels, options.fraction);

  std::vector<int64_t> order(static_cast<size_t>(channels));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return change[static_cast<size_t>(a)] > change[static_cast<size_t>(b)];
  });
  order.resize(static_cast<size_t>(keep));
  std::sort(order.begin(), order.end());

  ChannelSelection selection;
  selection.channels = order;
  for (int64_t c : order) selection.change.push_back(change[static_cast<size_t>(c)]);
  return selection;
}

std::vector<std::vector<ChannelSelection>> plan_dynamic_channels(const std::vector<std::vector<Tensor>>& s_ch,
                                                                 const ChannelPlanOptions& options) {
  std::vector<std::vector<ChannelSelection>> plan(s_ch.size());
  for (size_t layer = 0; layer < s_ch.size(); ++layer)
    for (size_t expert = 0; expert < s_ch[layer].size(); ++expert) {
      try {
        plan[layer].push_back(select_dynamic_channels(s_ch[layer][expert], options));
      } catch (const Error& error) {
        fail("MoE layer ", layer, " expert ", expert, ": ", error.what());
      }
    }
  return plan;
}

}  // namespace moqa::allocate
