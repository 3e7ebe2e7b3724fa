#include "analysis/weight_norms.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace moqa::analysis {

std::vector<double> gate_up_column_norms(model::Model& model, int64_t layer, int64_t expert) {
  const int64_t channels = model.config().hidden_size;
  std::vector<double> sq(static_cast<size_t>(channels), 0.0);
  for (const model::Linear kind : {model::Linear::expert_gate, model::Linear::expert_up}) {
    const Tensor w = model.weight_tensor({layer, kind, expert});
    MOQA_CHECK(w.rank() == 2 && w.dim(1) == channels, "analysis: ", model::to_string({layer, kind, expert}),
               " has shape ", to_string(w.shape), ", expected [*, ", channels, "]");
    for (int64_t r = 0; r < w.dim(0); ++r) {
      const auto row = w.row(r);
      for (int64_t c = 0; c < channels; ++c) {
        const double v = row[static_cast<size_t>(c)];
        sq[static_cast<size_t>(c)] += v * v;
      }
    }
  }
  for (double& v : sq) v = std::sqrt(v);
  return sq;
}

std::vector<double> down_column_norms(model::Model& model, int64_t layer, int64_t expert) {
  const model::LinearId id{layer, model::Linear::expert_down, expert};
  const Tensor w = model.weight_tensor(id);
  MOQA_CHECK(w.rank() == 2 && w.dim(0) == model.config().hidden_size, "analysis: ", model::to_string(id),
             " has shape ", to_string(w.shape), ", expected [", model.config().hidden_size, ", *]");
  std::vector<double> sq(static_cast<size_t>(w.dim(1)), 0.0);
  for (int64_t r = 0; r < w.dim(0); ++r) {
    const auto row = w.row(r);
    for (size_t k = 0; k < sq.size(); ++k) sq[k] += static_cast<double>(row[k]) * row[k];
  }
  for (double& v : sq) v = std::sqrt(v);
  return sq;
}

namespace {

template <class PerExpert>
std::vector<double> owned_rows(model::Model& model, int64_t layer, const dist::ShardPlan& plan, int rank,
                               int64_t width, PerExpert per_expert) {
  std::vector<double> norms(static_cast<size_t>(model.config().num_experts * width), 0.0);
  for (const int64_t expert : plan.experts_of(rank, layer)) {
    const std::vector<double> column = per_expert(model, layer, expert);
    MOQA_CHECK(static_cast<int64_t>(column.size()) == width, "analysis: layer ", layer, ", expert ", expert, ": ",
               column.size(), " column norms, expected ", width);
    std::copy(column.begin(), column.end(), norms.begin() + expert * width);
  }
  return norms;
}

}  // namespace

std::vector<double> owned_column_norms(model::Model& model, int64_t layer, const dist::ShardPlan& plan, int rank) {
  return owned_rows(model, layer, plan, rank, model.config().hidden_size, gate_up_column_norms);
}

std::vector<double> owned_down_column_norms(model::Model& model, int64_t layer, const dist::ShardPlan& plan,
                                            int rank) {
  return owned_rows(model, layer, plan, rank, model.config().expert_intermediate_size, down_column_norms);
}

}  // namespace moqa::analysis
