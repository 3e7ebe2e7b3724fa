#pragma once
// Router decisions of one MoE layer: which experts each token goes to and with which combine weight.
// Produced by Backend::route from router logits; a host-side value because dispatch (local or MPI) and
// statistics need it on the host.
#include <cstdint>
#include <span>
#include <vector>

namespace moqa::backend {

struct Array;

// How a family turns router logits into experts and weights (see Backend::route for the exact recipe).
struct RouterSpec {
  enum class Scoring { softmax, sigmoid };
  Scoring scoring = Scoring::softmax;
  int64_t top_k = 1;
  bool normalize = false;       // divide the chosen weights by their sum
  double scaling = 1.0;         // multiply the final weights (DeepSeek-V3 routed_scaling_factor)
  int64_t n_group = 1;          // group-limited selection (DeepSeek-V3): experts split in n_group groups,
  int64_t topk_group = 1;       // only the topk_group best groups may be chosen
  const Array* selection_bias = nullptr;  // [n_experts], added to the scores for selection only
};

struct Routing {
  int64_t tokens = 0;
  int64_t top_k = 0;
  std::vector<int32_t> experts;  // [tokens * top_k]: token t's choices, best first
  std::vector<float> weights;    // [tokens * top_k]: the matching combine weights

  int32_t expert(int64_t token, int64_t slot) const { return experts[static_cast<size_t>(token * top_k + slot)]; }
  float weight(int64_t token, int64_t slot) const { return weights[static_cast<size_t>(token * top_k + slot)]; }
};

// The tokens routed to one expert, in ascending token order, with their combine weights.
struct ExpertTokens {
  std::vector<int32_t> tokens;
  std::vector<float> weights;
};

// Inverts a Routing into one token list per expert ([num_experts]); the dispatch step of every executor.
// Throws when a routing names an expert outside [0, num_experts).
std::vector<ExpertTokens> group_by_expert(const Routing& routing, int64_t num_experts);

}  // namespace moqa::backend
