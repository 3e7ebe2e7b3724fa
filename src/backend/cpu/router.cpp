// Router scoring and top-k selection. Ties are broken towards the lower expert index so that results
// are deterministic and identical on every backend.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/cpu/kernels.h"

namespace moqa::backend::cpu {
namespace {

// Indices of the `k` largest values (descending, ties to the lower index).
void top_indices(const float* values, int64_t count, int64_t k, std::vector<int32_t>& order) {
  order.resize(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [values](int32_t a, int32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  order.resize(static_cast<size_t>(k));
}

}  // namespace

Routing route(const float* logits, int64_t tokens, int64_t experts, const RouterSpec& spec,
              const float* selection_bias, float* scores) {
  Routing routing;
  routing.tokens = tokens;
  routing.top_k = spec.top_k;
  routing.experts.resize(static_cast<size_t>(tokens * spec.top_k));
  routing.weights.resize(static_cast<size_t>(tokens * spec.top_k));

  const int64_t group_size = experts / spec.n_group;
  std::vector<float> choice(static_cast<size_t>(experts));
  std::vector<float> group_rating(static_cast<size_t>(spec.n_group));
  std::vector<int32_t> order, group_order, best_two;

  for (int64_t t = 0; t < tokens; ++t) {
    const float* in = logits + t * experts;
    float* score = scores + t * experts;
    if (spec.scoring == RouterSpec::Scoring::softmax) {
      const float max_logit = *std::max_element(in, in + experts);
      double sum = 0.0;
      for (int64_t e = 0; e < experts; ++e) {
        score[e] = std::exp(in[e] - max_logit);
        sum += score[e];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t e = 0; e < experts; ++e) score[e] *= inv;
    } else {
      for (int64_t e = 0; e < experts; ++e) score[e] = 1.0f / (1.0f + std::exp(-in[e]));
    }

    for (int64_t e = 0; e < experts; ++e) choice[e] = score[e] + (selection_bias ? selection_bias[e] : 0.0f);
    if (spec.n_group > 1) {
      for (int64_t g = 0; g < spec.n_group; ++g) {
        top_indices(choice.data() + g * group_size, group_size, std::min<int64_t>(2, group_size), best_two);
        float rating = 0.0f;
        for (int32_t i : best_two) rating += choice[static_cast<size_t>(g * group_size + i)];
        group_rating[static_cast<size_t>(g)] = rating;
      }
      top_indices(group_rating.data(), spec.n_group, spec.topk_group, group_order);
      std::vector<bool> keep(static_cast<size_t>(spec.n_group), false);
      for (int32_t g : group_order) keep[static_cast<size_t>(g)] = true;
      // Masked experts get 0, not -inf (as DeepSeek-V3 does): with a negative bias a masked expert can win.
      for (int64_t e = 0; e < experts; ++e)
        if (!keep[static_cast<size_t>(e / group_size)]) choice[e] = 0.0f;
    }

    top_indices(choice.data(), experts, spec.top_k, order);
    float* weights = routing.weights.data() + t * spec.top_k;
    int32_t* chosen = routing.experts.data() + t * spec.top_k;
    float total = 0.0f;
    for (int64_t i = 0; i < spec.top_k; ++i) {
      chosen[i] = order[static_cast<size_t>(i)];
      weights[i] = score[chosen[i]];
      total += weights[i];
    }
    if (spec.normalize) {
      const float denominator = total + 1e-20f;  // DeepSeek's guard; no effect on a nonzero sum
      for (int64_t i = 0; i < spec.top_k; ++i) weights[i] /= denominator;
    }
    if (spec.scaling != 1.0) {
      for (int64_t i = 0; i < spec.top_k; ++i) weights[i] *= static_cast<float>(spec.scaling);
    }
  }
  return routing;
}

}  // namespace moqa::backend::cpu
