#include "backend/cuda/routed_experts.h"

#include <vector>

#include "core/error.h"

namespace moqa::cuda {

backend::Array run_routed_experts(backend::CudaBackend& backend, const backend::Array& x,
                                  const backend::Routing& routing, std::span<const ExpertWeights> experts) {
  MOQA_CHECK(routing.tokens == x.rows(), "cuda routed experts: routing of ", routing.tokens, " tokens for ", x.rows(),
             " input rows");
  const auto groups = backend::group_by_expert(routing, static_cast<int64_t>(experts.size()));
  std::vector<int32_t> tokens;
  std::vector<float> weights;
  std::vector<int64_t> rows(groups.size());
  std::vector<backend::Array> gates(groups.size()), ups(groups.size()), downs(groups.size());
  for (size_t e = 0; e < groups.size(); ++e) {
    const backend::ExpertTokens& group = groups[e];
    rows[e] = static_cast<int64_t>(group.tokens.size());
    tokens.insert(tokens.end(), group.tokens.begin(), group.tokens.end());
    weights.insert(weights.end(), group.weights.begin(), group.weights.end());
    if (group.tokens.empty()) continue;
    MOQA_CHECK(!experts[e].gate.empty() && !experts[e].up.empty() && !experts[e].down.empty(),
               "cuda routed experts: ", group.tokens.size(), " tokens routed to expert ", e,
               ", whose weights are not loaded");
    gates[e] = experts[e].gate;
    ups[e] = experts[e].up;
    downs[e] = experts[e].down;
  }
  backend::Array out = backend.zeros({x.rows(), x.cols()});
  if (tokens.empty()) return out;
  const backend::Array gathered = backend.gather_rows(x, tokens);
  const backend::Array gate = backend.grouped_linear(gathered, rows, gates);
  const backend::Array up = backend.grouped_linear(gathered, rows, ups);
  const backend::Array activated = backend.silu_mul(gate, up);
  const backend::Array expert_out = backend.grouped_linear(activated, rows, downs);
  backend.scatter_add_rows(out, expert_out, tokens, weights);
  return out;
}

}  // namespace moqa::cuda
