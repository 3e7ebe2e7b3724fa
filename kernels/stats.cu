#include "kernels/check.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/stats.cuh"

namespace moqa::cuda {
namespace {

// Grid (channel blocks, experts): thread (c, e) walks expert e's tokens in order; neighbouring threads read
// neighbouring channels of the same row (coalesced).
__global__ void channel_sums_kernel(const float* x, int64_t channels, ExpertRowsView rows, ChannelSumsView sums) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t e = blockIdx.y;
  if (c >= channels) return;
  const int64_t cell = e * channels + c;
  double abs_sum = sums.abs_sum[cell], sq_sum = sums.sq_sum[cell];
  double wabs = sums.weighted_abs_sum[cell], wsq = sums.weighted_sq_sum[cell], amax = sums.abs_max[cell];
  for (int64_t n = rows.offsets[e]; n < rows.offsets[e + 1]; ++n) {
    const double v = x[static_cast<int64_t>(rows.tokens[n]) * channels + c];
    const double w = rows.omega[n];
    const double a = fabs(v);
    const double q = __dmul_rn(v, v);
    abs_sum = __dadd_rn(abs_sum, a);
    sq_sum = __dadd_rn(sq_sum, q);
    wabs = __dadd_rn(wabs, __dmul_rn(w, a));
    wsq = __dadd_rn(wsq, __dmul_rn(w, q));
    amax = amax < a ? a : amax;
  }
  sums.abs_sum[cell] = abs_sum;
  sums.sq_sum[cell] = sq_sum;
  sums.weighted_abs_sum[cell] = wabs;
  sums.weighted_sq_sum[cell] = wsq;
  sums.abs_max[cell] = amax;
}

// One thread per expert, tokens in order (a float64 sum per expert: the order fixes the rounding).
// TODO(measure on the device): a two-level reduction if this shows up next to the channel sums.
__global__ void score_mass_kernel(const float* scores, int64_t tokens, int64_t experts, double* mass) {
  const int64_t e = global_thread();
  if (e >= experts) return;
  double sum = mass[e];
  for (int64_t t = 0; t < tokens; ++t) sum = __dadd_rn(sum, static_cast<double>(scores[t * experts + e]));
  mass[e] = sum;
}

__global__ void coactivation_kernel(const int32_t* chosen, int64_t tokens, int64_t top_k, int64_t experts,
                                    unsigned long long* counts) {
  for (int64_t t = global_thread(); t < tokens; t += grid_threads()) {
    const int32_t* row = chosen + t * top_k;
    for (int64_t a = 0; a < top_k; ++a) {
      for (int64_t b = 0; b < top_k; ++b) atomicAdd(&counts[row[a] * experts + row[b]], 1ULL);
    }
  }
}

}  // namespace

void accumulate_channel_sums(const float* x, int64_t channels, int64_t experts, const ExpertRowsView& rows,
                             const ChannelSumsView& sums, cudaStream_t stream) {
  if (channels == 0 || experts == 0) return;
  MOQA_CHECK(experts <= 65535, "cuda channel statistics: ", experts, " experts exceed the grid's y limit 65535");
  const dim3 grid(exact_grid((channels + kThreads - 1) / kThreads, "channel statistics"),
                  static_cast<unsigned>(experts));
  channel_sums_kernel<<<grid, kThreads, 0, stream>>>(x, channels, rows, sums);
  MOQA_CUDA_CHECK_LAUNCH("channel_sums_kernel");
}

void accumulate_score_mass(const float* scores, int64_t tokens, int64_t experts, double* mass, cudaStream_t stream) {
  if (experts == 0 || tokens == 0) return;
  score_mass_kernel<<<exact_grid((experts + 127) / 128, "score mass"), 128, 0, stream>>>(scores, tokens, experts, mass);
  MOQA_CUDA_CHECK_LAUNCH("score_mass_kernel");
}

void accumulate_coactivation(const int32_t* chosen, int64_t tokens, int64_t top_k, int64_t experts,
                             unsigned long long* counts, cudaStream_t stream) {
  if (tokens == 0 || top_k == 0) return;
  coactivation_kernel<<<grid_for(tokens), kThreads, 0, stream>>>(chosen, tokens, top_k, experts, counts);
  MOQA_CUDA_CHECK_LAUNCH("coactivation_kernel");
}

}  // namespace moqa::cuda
