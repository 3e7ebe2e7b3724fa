#pragma once
// Channel-level adjustment plan (PAPER.md §4.3): per expert, the small set of channels whose significance
// moves most between calibration distributions. Their full-precision weights are cached so that, when a
// novel distribution changes the expert's width, only these channels are re-quantized.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace moqa::allocate {

enum class ChannelChangeMeasure {
  variance,  // population variance over datasets of the per-dataset normalised S_ch
  range,     // max - min over datasets of the per-dataset normalised S_ch
};
ChannelChangeMeasure channel_change_measure_from_string(std::string_view name);  // "variance" | "range"
std::string to_string(ChannelChangeMeasure measure);

struct ChannelPlanOptions {
  double fraction = 0.01;  // of the expert's channels, rounded up, at least one
  ChannelChangeMeasure measure = ChannelChangeMeasure::variance;
};

struct ChannelSelection {
  std::vector<int64_t> channels;  // ascending channel index
  std::vector<double> change;     // the measure of each selected channel, same order
};

// s_ch: [datasets, channels] channel significance of one expert under each calibration distribution
// (>= 2 datasets, finite, >= 0). Each dataset's row is divided by its sum first, so that a distribution
// which simply drives the expert harder does not count as change. Returns one value per channel.
std::vector<double> channel_change(const Tensor& s_ch, ChannelChangeMeasure measure);

// How many of `channels` channels a fraction caches: ceil(fraction x channels), at least one, at most all.
int64_t dynamic_channel_count(int64_t channels, double fraction);

// The top dynamic_channel_count channels by change; equal changes go to the lower channel index.
ChannelSelection select_dynamic_channels(const Tensor& s_ch, const ChannelPlanOptions& options);

// select_dynamic_channels for every expert: s_ch[layer][expert] -> selection[layer][expert].
std::vector<std::vector<ChannelSelection>> plan_dynamic_channels(const std::vector<std::vector<Tensor>>& s_ch,
                                                                 const ChannelPlanOptions& options);

}  // namespace moqa::allocate
