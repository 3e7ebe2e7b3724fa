#include "pipeline/channel_adjustment.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace moqa::pipeline {

using json = nlohmann::json;

std::string channel_plan_to_json(const ChannelAdjustmentPlan& plan) {
  json novel = json::array();
  for (const NovelAllocation& n : plan.novel) {
    json changes = json::array();
    for (const allocate::BitChange& c : n.changes) changes.push_back({c.layer, c.expert, c.old_bits, c.new_bits});
    novel.push_back({{"name", n.name},
                     {"profile", n.profile},
                     {"profile_source", n.profile_source},
                     {"profile_token_begin", n.profile_token_begin},
                     {"profile_token_end", n.profile_token_end},
                     {"scored_from_token", n.scored_from_token},
                     {"bits", n.bits},
                     {"changes", changes},
                     {"expert_mean_bits", n.expert_mean_bits},
                     {"all_linear_mean_bits", n.all_linear_mean_bits},
                     {"stored_expert_mean_bits", n.stored_expert_mean_bits},
                     {"stored_all_linear_mean_bits", n.stored_all_linear_mean_bits},
                     {"windows", n.windows},
                     {"tokens", n.tokens},
                     {"significance", n.significance}});
  }
  return json{{"fraction", plan.fraction},
              {"measure", plan.measure},
              {"channels", plan.channels},
              {"change", plan.change},
              {"novel", novel},
              {"stored_expert_mean_bits", plan.stored_expert_mean_bits},
              {"stored_all_linear_mean_bits", plan.stored_all_linear_mean_bits}}
      .dump();
}

ChannelAdjustmentPlan channel_plan_from_json(std::string_view text) {
  try {
    const json j = json::parse(text);
    ChannelAdjustmentPlan plan;
    plan.fraction = j.at("fraction").get<double>();
    plan.measure = j.at("measure").get<std::string>();
    plan.channels = j.at("channels").get<std::vector<std::vector<std::vector<int64_t>>>>();
    plan.change = j.at("change").get<std::vector<std::vector<std::vector<double>>>>();
    plan.stored_expert_mean_bits = j.at("stored_expert_mean_bits").get<double>();
    plan.stored_all_linear_mean_bits = j.at("stored_all_linear_mean_bits").get<double>();
    for (const json& n : j.at("novel")) {
      NovelAllocation a;
      a.name = n.at("name").get<std::string>();
      a.profile = n.at("profile").get<std::string>();
      a.profile_source = n.at("profile_source").get<std::string>();
      a.profile_token_begin = n.at("profile_token_begin").get<int64_t>();
      a.profile_token_end = n.at("profile_token_end").get<int64_t>();
      a.scored_from_token = n.at("scored_from_token").get<int64_t>();
      a.bits = n.at("bits").get<allocate::BitMatrix>();
      for (const json& c : n.at("changes"))
        a.changes.push_back({.layer = c.at(0).get<int>(),
                             .expert = c.at(1).get<int>(),
                             .old_bits = c.at(2).get<int>(),
                             .new_bits = c.at(3).get<int>()});
      a.expert_mean_bits = n.at("expert_mean_bits").get<double>();
      a.all_linear_mean_bits = n.at("all_linear_mean_bits").get<double>();
      a.stored_expert_mean_bits = n.at("stored_expert_mean_bits").get<double>();
      a.stored_all_linear_mean_bits = n.at("stored_all_linear_mean_bits").get<double>();
      a.windows = n.at("windows").get<int64_t>();
      a.tokens = n.at("tokens").get<int64_t>();
      a.significance = n.at("significance").get<std::vector<std::vector<double>>>();
      plan.novel.push_back(std::move(a));
    }
    return plan;
  } catch (const json::exception& e) {
    fail("channel adjustment plan: malformed broadcast (", e.what(), ")");
  }
}

allocate::BitsReport stored_bits(const allocate::AllocationInput& input, const allocate::BitMatrix& baseline_bits,
                                 const ChannelAdjustmentPlan& plan, int64_t params_per_channel,
                                 const NovelAllocation* novel) {
  MOQA_CHECK(plan.channels.size() == baseline_bits.size(), "channel plan: ", plan.channels.size(),
             " MoE layers of cached channels for ", baseline_bits.size(), " layers of widths");
  std::vector<std::vector<allocate::ExpertExtra>> extras = allocate::expert_extras(input);
  MOQA_CHECK(extras.size() == baseline_bits.size(), "channel plan: ", baseline_bits.size(),
             " MoE layers of widths for ", extras.size(), " layers of statistics");
  for (size_t l = 0; l < baseline_bits.size(); ++l) {
    MOQA_CHECK(plan.channels[l].size() == baseline_bits[l].size(), "channel plan: MoE layer ", l, " caches ",
               plan.channels[l].size(), " experts' channels for ", baseline_bits[l].size(), " experts");
    for (size_t x = 0; x < baseline_bits[l].size(); ++x) {
      const int64_t params = static_cast<int64_t>(plan.channels[l][x].size()) * params_per_channel;
      // Only the experts whose width changed get their cached channels re-quantized (novel_weights).
      const int novel_bits = novel ? novel->bits.at(l).at(x) : baseline_bits[l][x];
      extras.at(l).at(x).part_bits = params * 16 + (novel_bits != baseline_bits[l][x] ? params * novel_bits : 0);
    }
  }
  return allocate::report_bits(allocate::expert_params(input), baseline_bits, input.other_weights, extras);
}

quant::ChannelCache expert_channel_cache(const QuantTarget& target, const Tensor& weight,
                                         const std::vector<int64_t>& channels) {
  MOQA_CHECK(target.is_routed_expert(), "channel cache: ", target.name, " is not a routed expert's weight");
  if (channels.empty()) return {};
  if (target.id.kind == model::Linear::expert_down) return quant::make_channel_cache(weight, {}, channels, target.name);
  return quant::make_channel_cache(weight, channels, {}, target.name);
}

quant::GptqExact expert_exact_entries(const QuantTarget& target, const std::vector<int64_t>& channels) {
  MOQA_CHECK(target.is_routed_expert(), "channel cache: ", target.name, " is not a routed expert's weight");
  if (target.id.kind == model::Linear::expert_down) return {.columns = {}, .rows = channels};
  return {.columns = channels, .rows = {}};
}

NovelWeights novel_weights(const QuantizedWeights& baseline, const QuantizationPlan& plan,
                           const NovelAllocation& novel) {
  std::map<std::pair<int64_t, int64_t>, int> new_bits;  // (MoE index, expert) -> width
  for (const allocate::BitChange& change : novel.changes) new_bits[{change.layer, change.expert}] = change.new_bits;
  std::map<std::string, quant::ChannelCache> caches;
  for (const QuantTarget& t : plan.targets) {
    if (!t.is_routed_expert()) continue;
    const auto moved = new_bits.find({t.moe_index, t.id.expert});
    if (moved == new_bits.end()) continue;
    const QuantizedWeights::Entry* entry = baseline.entry(t.name);
    if (entry == nullptr || entry->cache.empty()) continue;  // another rank's expert, or nothing cached
    caches.emplace(t.name, quant::requantize_channel_cache(*entry->matrix, entry->cache, moved->second, t.name));
  }
  NovelWeights out;
  for (const auto& [name, cache] : caches) {
    ++out.requantized_tensors;
    out.requantized_elements += cache.cached_elements();
  }
  out.weights = baseline.with_caches(caches, cat("quantized model adjusted to \"", novel.name, "\""));
  return out;
}

}  // namespace moqa::pipeline
