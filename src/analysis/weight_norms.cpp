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

std::vector<double> owned_column_norms(model::Model& model, int64_t layer, const dist::ShardPlan& plan, int rank) {
  const int64_t experts = model.config().num_experts, channels = model.config().hidden_size;
  std::vector<double> norms(static_cast<size_t>(experts * channels), 0.0);
  for (const int64_t expert : plan.experts_of(rank, layer)) {
    const std::vector<double> column = gate_up_column_norms(model, layer, expert);
    std::copy(column.begin(), column.end(), norms.begin() + expert * channels);
  }
  return norms;
}

}  // namespace moqa::analysis
