#include "dist/shard_plan.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "core/units.h"

namespace moqa::dist {

ShardPlan make_shard_plan(const ModelConfig& config, int world_size, int64_t bytes_per_parameter) {
  MOQA_CHECK(world_size >= 1, "shard plan: world size ", world_size, ", expected at least 1 rank");
  MOQA_CHECK(static_cast<int64_t>(config.layer_is_moe.size()) == config.num_layers, config.source.string(),
             ": layer_is_moe has ", config.layer_is_moe.size(), " entries, expected num_layers = ", config.num_layers);
  MOQA_CHECK(config.num_experts >= 0, config.source.string(), ": num_experts ", config.num_experts,
             ", expected >= 0");
  ShardPlan plan;
  plan.world_size = world_size;
  plan.num_layers = config.num_layers;
  plan.num_experts = config.num_experts;
  plan.expert_bytes = config.expert_parameter_count() * bytes_per_parameter;
  plan.layer_is_moe = config.layer_is_moe;
  plan.owners.assign(static_cast<size_t>(plan.num_layers * plan.num_experts), -1);

  const int64_t ranks = world_size;
  const int64_t base = plan.num_experts / ranks;
  const int64_t extra = plan.num_experts % ranks;
  int64_t next_extra_rank = 0;  // where the round-robin of extra experts continues
  std::vector<int64_t> count(static_cast<size_t>(ranks));
  for (int64_t layer = 0; layer < plan.num_layers; ++layer) {
    if (!plan.layer_is_moe[static_cast<size_t>(layer)]) continue;
    std::fill(count.begin(), count.end(), base);
    for (int64_t i = 0; i < extra; ++i) ++count[static_cast<size_t>((next_extra_rank + i) % ranks)];
    next_extra_rank = (next_extra_rank + extra) % ranks;
    int64_t expert = 0;
    for (int64_t rank = 0; rank < ranks; ++rank)
      for (int64_t k = 0; k < count[static_cast<size_t>(rank)]; ++k)
        plan.owners[static_cast<size_t>(layer * plan.num_experts + expert++)] = static_cast<int>(rank);
  }
  return plan;
}

int ShardPlan::owner(int64_t layer, int64_t expert) const {
  MOQA_CHECK(layer >= 0 && layer < num_layers, "shard plan: layer ", layer, " out of range [0, ", num_layers, ")");
  MOQA_CHECK(expert >= 0 && expert < num_experts, "shard plan: expert ", expert, " out of range [0, ", num_experts,
             ")");
  MOQA_CHECK(layer_is_moe[static_cast<size_t>(layer)], "shard plan: layer ", layer,
             " is dense (replicated), it has no routed experts");
  return owners[static_cast<size_t>(layer * num_experts + expert)];
}

std::vector<int64_t> ShardPlan::experts_of(int rank, int64_t layer) const {
  MOQA_CHECK(layer >= 0 && layer < num_layers, "shard plan: layer ", layer, " out of range [0, ", num_layers, ")");
  std::vector<int64_t> experts;
  for (int64_t e = 0; e < num_experts; ++e)
    if (owners[static_cast<size_t>(layer * num_experts + e)] == rank) experts.push_back(e);
  return experts;
}

int64_t ShardPlan::expert_count_of(int rank) const {
  return std::count(owners.begin(), owners.end(), rank);
}

int64_t ShardPlan::bytes_of(int rank) const { return expert_count_of(rank) * expert_bytes; }

namespace {

// "0-3", "4", "-" (none).
std::string ranges_text(const std::vector<int64_t>& experts) {
  if (experts.empty()) return "-";
  std::string out;
  size_t i = 0;
  while (i < experts.size()) {
    size_t j = i;
    while (j + 1 < experts.size() && experts[j + 1] == experts[j] + 1) ++j;
    out += cat(out.empty() ? "" : ",", experts[i]);
    if (j > i) out += cat("-", experts[j]);
    i = j + 1;
  }
  return out;
}

std::string pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace

std::string format_shard_plan(const ShardPlan& plan) {
  std::ostringstream out;
  int64_t moe_layers = std::count(plan.layer_is_moe.begin(), plan.layer_is_moe.end(), true);
  out << moe_layers << " MoE layers x " << plan.num_experts << " routed experts over " << plan.world_size
      << (plan.world_size == 1 ? " rank" : " ranks") << " (one expert = " << format_bytes(plan.expert_bytes)
      << "); embeddings, attention, routers, shared experts, dense layers and lm_head are replicated\n";

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"layer"});
  for (int r = 0; r < plan.world_size; ++r) rows.back().push_back(cat("rank ", r));
  for (int64_t layer = 0; layer < plan.num_layers; ++layer) {
    std::vector<std::string> row{std::to_string(layer)};
    if (!plan.layer_is_moe[static_cast<size_t>(layer)]) {
      row.push_back("dense (replicated)");
    } else {
      for (int r = 0; r < plan.world_size; ++r) row.push_back(ranges_text(plan.experts_of(r, layer)));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> experts_row{"experts"}, bytes_row{"bytes"};
  for (int r = 0; r < plan.world_size; ++r) {
    experts_row.push_back(std::to_string(plan.expert_count_of(r)));
    bytes_row.push_back(format_bytes(plan.bytes_of(r)));
  }
  rows.push_back(std::move(experts_row));
  rows.push_back(std::move(bytes_row));

  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      // A dense layer's single cell spans all rank columns: it must not widen the first one.
      if (!(row.size() == 2 && c == 1 && plan.world_size > 1)) width[c] = std::max(width[c], row[c].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += (c + 1 < row.size() ? pad(row[c], width[c] + 2) : row[c]);
    out << "  " << line << "\n";
  }
  return out.str();
}

}  // namespace moqa::dist
