#include "backend/routing.h"

#include "core/error.h"

namespace moqa::backend {

std::vector<ExpertTokens> group_by_expert(const Routing& routing, int64_t num_experts) {
  MOQA_CHECK(static_cast<int64_t>(routing.experts.size()) == routing.tokens * routing.top_k &&
                 routing.weights.size() == routing.experts.size(),
             "routing of ", routing.tokens, " tokens x top-", routing.top_k, " holds ", routing.experts.size(),
             " experts and ", routing.weights.size(), " weights");
  std::vector<ExpertTokens> groups(static_cast<size_t>(num_experts));
  for (int64_t t = 0; t < routing.tokens; ++t) {
    for (int64_t slot = 0; slot < routing.top_k; ++slot) {
      const int32_t expert = routing.expert(t, slot);
      MOQA_CHECK(expert >= 0 && expert < num_experts, "routing sends token ", t, " to expert ", expert,
                 ", outside [0, ", num_experts, ")");
      auto& group = groups[static_cast<size_t>(expert)];
      group.tokens.push_back(static_cast<int32_t>(t));
      group.weights.push_back(routing.weight(t, slot));
    }
  }
  return groups;
}

}  // namespace moqa::backend
