#include "pipeline/allocate/allocation_results.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace moqa::pipeline {
namespace {

template <class T, class U>
std::vector<T> flatten(const std::vector<std::vector<U>>& rows) {
  std::vector<T> out;
  for (const auto& row : rows)
    for (const U& v : row) out.push_back(static_cast<T>(v));
  return out;
}

Shape matrix_shape(size_t rows, size_t cols) { return {static_cast<int64_t>(rows), static_cast<int64_t>(cols)}; }

size_t row_width(const allocate::BitMatrix& bits) { return bits.empty() ? 0 : bits.front().size(); }

// (model layer, expert, old bits, new bits) rows.
void write_changes(io::H5Writer& file, const std::string& path, const std::vector<allocate::BitChange>& changes,
                   const std::vector<int64_t>& moe_layers) {
  std::vector<int64_t> values;
  for (const allocate::BitChange& c : changes) {
    values.push_back(moe_layers.at(static_cast<size_t>(c.layer)));
    values.push_back(c.expert);
    values.push_back(c.old_bits);
    values.push_back(c.new_bits);
  }
  file.write(path, values, Shape{static_cast<int64_t>(changes.size()), 4});
}

void write_moqa(io::H5Writer& file, const allocate::Allocation& a, const std::vector<int64_t>& moe_layers) {
  const std::string g = "/allocation";
  const size_t layers = a.bits.size(), experts = row_width(a.bits);
  file.write(g + "/cluster", flatten<int64_t>(a.cluster), matrix_shape(layers, experts));
  file.write(g + "/cluster_run", flatten<int64_t>(a.cluster_run), matrix_shape(layers, experts));
  size_t ranks = 0;
  for (const auto& layer : a.membership)
    for (const auto& m : layer) ranks = std::max(ranks, m.size());
  std::vector<double> membership;
  for (const auto& layer : a.membership)
    for (const auto& m : layer) {
      membership.insert(membership.end(), m.begin(), m.end());
      membership.resize(membership.size() + ranks - m.size(), 0.0);
    }
  file.write(g + "/membership", membership,
             Shape{static_cast<int64_t>(layers), static_cast<int64_t>(experts), static_cast<int64_t>(ranks)});
  for (size_t i = 0; i < a.clusterings.size(); ++i) {
    const allocate::ClusterRun& run = a.clusterings[i];
    const std::string r = cat(g, "/clusters/run_", i);
    file.create_group(r);
    std::vector<int64_t> run_layers;
    for (const int l : run.layers) run_layers.push_back(moe_layers.at(static_cast<size_t>(l)));
    file.write(r + "/layers", run_layers, Shape{static_cast<int64_t>(run_layers.size())});
    file.write(r + "/centers", run.centers, Shape{static_cast<int64_t>(run.centers.size())});
    const std::vector<int64_t> center_bits(run.center_bits.begin(), run.center_bits.end());
    file.write(r + "/center_bits", center_bits, Shape{static_cast<int64_t>(center_bits.size())});
    file.set_attribute(r, "requested_clusters", run.requested_clusters);
    file.set_attribute(r, "iterations", run.iterations);
    file.set_attribute(r, "converged", int64_t{run.converged ? 1 : 0});
    file.set_attribute(r, "objective", run.objective);
  }
  std::vector<int64_t> overlaps;
  std::vector<double> margins;
  for (const allocate::OverlapDecision& o : a.overlaps) {
    for (const int64_t v : {moe_layers.at(static_cast<size_t>(o.layer)), int64_t{o.expert}, int64_t{o.top_cluster},
                            int64_t{o.second_cluster}, int64_t{o.assigned_cluster}})
      overlaps.push_back(v);
    margins.push_back(o.margin);
  }
  file.write(g + "/overlaps", overlaps, Shape{static_cast<int64_t>(a.overlaps.size()), 5});
  file.write(g + "/overlap_margins", margins, Shape{static_cast<int64_t>(margins.size())});
}

void write_channel_plan(io::H5Writer& file, const ChannelAdjustmentPlan& plan, const allocate::Allocation& baseline,
                        const std::vector<int64_t>& moe_layers) {
  const std::string g = "/allocation/channel_cache";
  file.create_group(g);
  file.set_attribute(g, "fraction", plan.fraction);
  file.set_attribute(g, "measure", plan.measure);
  file.set_attribute(g, "stored_expert_mean_bits", plan.stored_expert_mean_bits);
  file.set_attribute(g, "stored_all_linear_mean_bits", plan.stored_all_linear_mean_bits);
  const size_t layers = plan.channels.size();
  const size_t experts = layers ? plan.channels.front().size() : 0;
  const size_t k = experts ? plan.channels.front().front().size() : 0;
  std::vector<int64_t> channels;
  std::vector<double> change;
  for (size_t l = 0; l < layers; ++l)
    for (size_t e = 0; e < experts; ++e) {
      MOQA_CHECK(plan.channels[l][e].size() == k && plan.change[l][e].size() == k,
                 "channel plan: experts cache different channel counts");
      channels.insert(channels.end(), plan.channels[l][e].begin(), plan.channels[l][e].end());
      change.insert(change.end(), plan.change[l][e].begin(), plan.change[l][e].end());
    }
  const Shape shape{static_cast<int64_t>(layers), static_cast<int64_t>(experts), static_cast<int64_t>(k)};
  file.write(g + "/channels", channels, shape);
  file.write(g + "/change", change, shape);

  file.create_group("/allocation/novel");
  for (const NovelAllocation& n : plan.novel) {
    const std::string d = "/allocation/novel/" + n.name;
    file.create_group(d);
    file.write(d + "/bits", flatten<int64_t>(n.bits), matrix_shape(n.bits.size(), row_width(n.bits)));
    file.write(d + "/expert_significance", flatten<double>(n.significance),
               matrix_shape(n.significance.size(), n.significance.empty() ? 0 : n.significance.front().size()));
    write_changes(file, d + "/changes", n.changes, moe_layers);
    file.set_attribute(d, "expert_mean_bits", n.expert_mean_bits);
    file.set_attribute(d, "all_linear_mean_bits", n.all_linear_mean_bits);
    file.set_attribute(d, "stored_expert_mean_bits", n.stored_expert_mean_bits);
    file.set_attribute(d, "stored_all_linear_mean_bits", n.stored_all_linear_mean_bits);
    file.set_attribute(d, "baseline_expert_mean_bits", baseline.report.expert_mean_bits);
    file.set_attribute(d, "profile", n.profile);
    file.set_attribute(d, "profile_source", n.profile_source);
    file.set_attribute(d, "profile_token_begin", n.profile_token_begin);
    file.set_attribute(d, "profile_token_end", n.profile_token_end);
    file.set_attribute(d, "scored_from_token", n.scored_from_token);
    file.set_attribute(d, "windows", n.windows);
    file.set_attribute(d, "tokens", n.tokens);
    file.set_attribute(d, "changed_experts", static_cast<int64_t>(n.changes.size()));
  }
}

}  // namespace

void write_allocation(io::H5Writer& file, const AllocationRecord& record) {
  const allocate::Allocation& a = record.allocation;
  const allocate::AllocationInput& input = record.input;
  const std::string g = "/allocation";
  file.create_group(g);
  file.set_attribute(g, "method", allocate::to_string(a.method));
  file.set_attribute(g, "scope", allocate::to_string(a.scope));
  file.set_attribute(g, "target_bits", a.target_bits);
  file.set_attribute(g, "expert_target_bits", a.expert_target_bits);
  file.set_attribute(g, "candidate_bits",
                     std::vector<int64_t>(record.candidate_bits.begin(), record.candidate_bits.end()));
  file.set_attribute(g, "non_expert_bits", record.non_expert_bits);
  file.set_attribute(g, "expert_mean_bits", a.report.expert_mean_bits);
  file.set_attribute(g, "all_linear_mean_bits", a.report.all_linear_mean_bits);
  file.set_attribute(g, "expert_params", a.report.expert_params);
  file.set_attribute(g, "expert_bit_params", a.report.expert_bit_params);
  file.set_attribute(g, "other_params", a.report.other_params);
  file.set_attribute(g, "other_bit_params", a.report.other_bit_params);

  const size_t layers = a.bits.size(), experts = row_width(a.bits);
  const Shape le = matrix_shape(layers, experts);
  file.write(g + "/moe_layers", record.moe_layers, Shape{static_cast<int64_t>(record.moe_layers.size())});
  file.write(g + "/bits", flatten<int64_t>(a.bits), le);
  file.write(g + "/layer_mean_bits", a.report.layer_mean_bits,
             Shape{static_cast<int64_t>(a.report.layer_mean_bits.size())});
  if (!a.score.empty()) file.write(g + "/score", flatten<double>(a.score), le);
  std::vector<int64_t> params;
  std::vector<double> significance, variance, routed;
  for (const allocate::MoeLayerStats& layer : input.layers)
    for (const allocate::ExpertStats& x : layer.experts) {
      params.push_back(x.params);
      significance.push_back(x.significance_mean);
      variance.push_back(x.significance_variance);
      routed.push_back(x.routed_fraction);
    }
  file.write(g + "/expert_params", params, le);
  file.write(g + "/significance_mean", significance, le);
  file.write(g + "/significance_variance", variance, le);
  file.write(g + "/routed_fraction", routed, le);

  std::vector<std::string> other_names;
  std::vector<int64_t> other_params, other_bits;
  for (const allocate::WeightGroup& w : input.other_weights) {
    other_names.push_back(w.name);
    other_params.push_back(w.params);
    other_bits.push_back(w.bits);
  }
  file.create_group(g + "/other_weights");
  file.write_strings(g + "/other_weights/names", other_names);
  file.write(g + "/other_weights/params", other_params, Shape{static_cast<int64_t>(other_params.size())});
  file.write(g + "/other_weights/bits", other_bits, Shape{static_cast<int64_t>(other_bits.size())});

  if (a.method == allocate::Method::moqa) write_moqa(file, a, record.moe_layers);
  if (a.method == allocate::Method::moqa || a.method == allocate::Method::moqa_v1)
    write_changes(file, g + "/budget_demotions", a.budget_demotions, record.moe_layers);
  if (a.method == allocate::Method::moqa_v1)
    write_changes(file, g + "/coactivation_lifts", a.coactivation_lifts, record.moe_layers);
  if (a.method == allocate::Method::budgeted) {
    file.set_attribute(g, "objective", a.objective);
    file.set_attribute(g, "exact", int64_t{a.exact ? 1 : 0});
    file.set_attribute(g, "budget_unit_bit_params", a.budget_unit_bit_params);
  }
  if (record.errors != nullptr) {
    const ErrorProfile& p = *record.errors;
    std::vector<double> table;
    for (const auto& layer : p.error)
      for (const auto& expert : layer) table.insert(table.end(), expert.begin(), expert.end());
    file.write(g + "/quant_error", table,
               Shape{static_cast<int64_t>(p.error.size()), static_cast<int64_t>(experts),
                     static_cast<int64_t>(p.bits.size())});
    file.write(g + "/error_bits", std::vector<int64_t>(p.bits.begin(), p.bits.end()),
               Shape{static_cast<int64_t>(p.bits.size())});
    file.set_attribute(g, "error_windows", p.windows);
    file.set_attribute(g, "error_tokens", p.tokens);
    file.set_attribute(g, "error_rtn_fallbacks", p.rtn_fallbacks);
  }
  if (record.channels != nullptr) write_channel_plan(file, *record.channels, a, record.moe_layers);
}

}  // namespace moqa::pipeline
