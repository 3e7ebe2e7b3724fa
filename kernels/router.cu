#include <cstdint>

#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/router.cuh"

namespace moqa::cuda {
namespace {

// True when expert a ranks before expert b: larger value first, ties to the lower index (the CPU comparator).
__device__ inline bool ranks_before(float va, int a, float vb, int b) { return va > vb || (va == vb && a < b); }

// One thread per token: expert counts are small (<= a few hundred), so plain loops over them are cheap and
// keep the code a direct transcription of the CPU recipe.
__global__ void route_kernel(const float* logits, int64_t tokens, int experts, const float* bias, RouterParams spec,
                             float* scores, int32_t* chosen, float* weights) {
  const int64_t t = global_thread();
  if (t >= tokens) return;
  const float* in = logits + t * experts;
  float* score = scores + t * experts;
  if (spec.softmax) {
    float max_logit = in[0];
    for (int e = 1; e < experts; ++e) max_logit = in[e] > max_logit ? in[e] : max_logit;
    double sum = 0.0;
    for (int e = 0; e < experts; ++e) {
      score[e] = expf(in[e] - max_logit);
      sum += score[e];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int e = 0; e < experts; ++e) score[e] *= inv;
  } else {
    for (int e = 0; e < experts; ++e) score[e] = 1.0f / (1.0f + expf(-in[e]));
  }

  // Group-limited selection: keep[g] for the topk_group groups rated best by the sum of their two best
  // choice values; every other expert's choice value becomes 0.
  const int group_size = experts / spec.n_group;
  uint64_t keep = ~uint64_t{0};
  if (spec.n_group > 1) {
    float rating[kMaxRouterGroups];
    for (int g = 0; g < spec.n_group; ++g) {
      const int first = g * group_size;
      const int best_count = group_size < 2 ? group_size : 2;
      int best[2] = {-1, -1};
      float sum = 0.0f;
      for (int slot = 0; slot < best_count; ++slot) {
        int pick = -1;
        float pick_value = 0.0f;
        for (int e = first; e < first + group_size; ++e) {
          if (e == best[0]) continue;
          const float v = score[e] + (bias ? bias[e] : 0.0f);
          if (pick < 0 || ranks_before(v, e, pick_value, pick)) {
            pick = e;
            pick_value = v;
          }
        }
        best[slot] = pick;
        sum += pick_value;
      }
      rating[g] = sum;
    }
    keep = 0;
    for (int slot = 0; slot < spec.topk_group; ++slot) {
      int pick = -1;
      for (int g = 0; g < spec.n_group; ++g) {
        if ((keep >> g) & 1u) continue;
        if (pick < 0 || ranks_before(rating[g], g, rating[pick], pick)) pick = g;
      }
      keep |= uint64_t{1} << pick;
    }
  }

  int32_t* out_experts = chosen + t * spec.top_k;
  float* out_weights = weights + t * spec.top_k;
  for (int slot = 0; slot < spec.top_k; ++slot) {
    int pick = -1;
    float pick_value = 0.0f;
    for (int e = 0; e < experts; ++e) {
      bool taken = false;
      for (int s = 0; s < slot; ++s) taken = taken || out_experts[s] == e;
      if (taken) continue;
      const float v = ((keep >> (e / group_size)) & 1u) ? score[e] + (bias ? bias[e] : 0.0f) : 0.0f;
      if (pick < 0 || ranks_before(v, e, pick_value, pick)) {
        pick = e;
        pick_value = v;
      }
    }
    out_experts[slot] = pick;
  }

  float total = 0.0f;
  for (int slot = 0; slot < spec.top_k; ++slot) {
    out_weights[slot] = score[out_experts[slot]];
    total += out_weights[slot];
  }
  if (spec.normalize) {
    const float denominator = total + 1e-20f;
    for (int slot = 0; slot < spec.top_k; ++slot) out_weights[slot] /= denominator;
  }
  if (spec.apply_scaling) {
    for (int slot = 0; slot < spec.top_k; ++slot) out_weights[slot] *= spec.scaling;
  }
}

}  // namespace

void route(const float* logits, int64_t tokens, int64_t experts, const float* selection_bias, const RouterParams& spec,
           float* scores, int32_t* chosen, float* weights, cudaStream_t stream) {
  MOQA_CHECK(spec.n_group >= 1 && spec.n_group <= kMaxRouterGroups, "cuda route: ", spec.n_group,
             " expert groups, this kernel supports 1..", kMaxRouterGroups);
  MOQA_CHECK(experts >= 1 && experts <= 2147483647, "cuda route: ", experts, " experts");
  if (tokens == 0) return;
  route_kernel<<<exact_grid((tokens + 127) / 128, "route"), 128, 0, stream>>>(
      logits, tokens, static_cast<int>(experts), selection_bias, spec, scores, chosen, weights);
  MOQA_CUDA_CHECK_LAUNCH("route_kernel");
}

}  // namespace moqa::cuda
