#include "backend/cuda/channel_stats.h"

#include "backend/cuda/context.h"
#include "core/error.h"
#include "kernels/stats.cuh"

namespace moqa::cuda {

struct DeviceChannelStatistics::Buffers {
  std::shared_ptr<Context> context;  // outlives the arrays below
  int64_t experts = 0, channels = 0;
  DeviceArray<double> abs_sum, sq_sum, weighted_abs_sum, weighted_sq_sum, abs_max, prob_mass;
  DeviceArray<unsigned long long> coactivation;
};

namespace {

template <class T>
DeviceArray<T> zeroed(size_t count, cudaStream_t stream) {
  DeviceArray<T> out(count, stream);
  if (count > 0) MOQA_CUDA_CHECK(cudaMemsetAsync(out.data(), 0, count * sizeof(T), stream));
  return out;
}

}  // namespace

DeviceChannelStatistics::DeviceChannelStatistics(backend::CudaBackend& backend, int64_t experts, int64_t channels)
    : buffers_(std::make_unique<Buffers>()) {
  MOQA_CHECK(experts > 0 && channels > 0, "cuda channel statistics: ", experts, " experts x ", channels, " channels");
  Buffers& b = *buffers_;
  b.context = backend.context();
  b.context->activate();
  b.experts = experts;
  b.channels = channels;
  const cudaStream_t stream = b.context->stream_handle();
  const auto cells = static_cast<size_t>(experts * channels);
  b.abs_sum = zeroed<double>(cells, stream);
  b.sq_sum = zeroed<double>(cells, stream);
  b.weighted_abs_sum = zeroed<double>(cells, stream);
  b.weighted_sq_sum = zeroed<double>(cells, stream);
  b.abs_max = zeroed<double>(cells, stream);
  b.prob_mass = zeroed<double>(static_cast<size_t>(experts), stream);
  b.coactivation = zeroed<unsigned long long>(static_cast<size_t>(experts * experts), stream);
}

DeviceChannelStatistics::~DeviceChannelStatistics() = default;
DeviceChannelStatistics::DeviceChannelStatistics(DeviceChannelStatistics&&) noexcept = default;
DeviceChannelStatistics& DeviceChannelStatistics::operator=(DeviceChannelStatistics&&) noexcept = default;

void DeviceChannelStatistics::accumulate(const backend::Array& inputs, const backend::Array& scores,
                                         const backend::Routing& routing, std::span<const double> token_weights,
                                         bool gate_weighted) {
  Buffers& b = *buffers_;
  const int64_t tokens = routing.tokens, k = routing.top_k;
  MOQA_CHECK(static_cast<int64_t>(routing.experts.size()) == tokens * k &&
                 static_cast<int64_t>(routing.weights.size()) == tokens * k,
             "cuda channel statistics: routing of ", tokens, " tokens holds ", routing.experts.size(), " choices and ",
             routing.weights.size(), " weights, expected ", tokens * k);
  MOQA_CHECK(inputs.rows() == tokens && inputs.cols() == b.channels, "cuda channel statistics: inputs of shape ",
             to_string(inputs.shape), " for ", tokens, " tokens of ", b.channels, " channels");
  MOQA_CHECK(scores.rows() == tokens && scores.cols() == b.experts, "cuda channel statistics: scores of shape ",
             to_string(scores.shape), " for ", tokens, " tokens of ", b.experts, " experts");
  MOQA_CHECK(static_cast<int64_t>(token_weights.size()) == tokens, "cuda channel statistics: ", token_weights.size(),
             " token weights for ", tokens, " tokens");
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t s = 0; s < k; ++s) {
      const int32_t e = routing.expert(t, s);
      MOQA_CHECK(e >= 0 && e < b.experts, "cuda channel statistics: token ", t, " routed to expert ", e,
                 ", outside [0, ", b.experts, ")");
      for (int64_t other = 0; other < s; ++other) {
        MOQA_CHECK(routing.expert(t, other) != e, "cuda channel statistics: token ", t, " routed to expert ", e,
                   " twice");
      }
    }
  }
  const float* x = f32(inputs, "channel statistics");
  const float* score = f32(scores, "channel statistics");

  // Expert-major lists of (token, omega), tokens ascending within an expert: the CPU's order of additions.
  const std::vector<backend::ExpertTokens> groups = backend::group_by_expert(routing, b.experts);
  std::vector<int64_t> offsets(static_cast<size_t>(b.experts + 1), 0);
  std::vector<int32_t> routed_tokens;
  std::vector<double> omega;
  routed_tokens.reserve(static_cast<size_t>(tokens * k));
  omega.reserve(static_cast<size_t>(tokens * k));
  for (int64_t e = 0; e < b.experts; ++e) {
    const backend::ExpertTokens& group = groups[static_cast<size_t>(e)];
    for (size_t i = 0; i < group.tokens.size(); ++i) {
      const double r = token_weights[static_cast<size_t>(group.tokens[i])];
      const double g = group.weights[i];
      routed_tokens.push_back(group.tokens[i]);
      omega.push_back(r * (gate_weighted ? g : 1.0));
    }
    offsets[static_cast<size_t>(e + 1)] = static_cast<int64_t>(routed_tokens.size());
  }

  b.context->activate();
  const cudaStream_t stream = b.context->stream_handle();
  const auto d_offsets = to_device(offsets, stream);
  const auto d_tokens = to_device(routed_tokens, stream);
  const auto d_omega = to_device(omega, stream);
  const auto d_chosen = to_device(routing.experts, stream);
  const ExpertRowsView rows{d_offsets.data(), d_tokens.data(), d_omega.data()};
  const ChannelSumsView sums{b.abs_sum.data(), b.sq_sum.data(), b.weighted_abs_sum.data(), b.weighted_sq_sum.data(),
                             b.abs_max.data()};
  accumulate_channel_sums(x, b.channels, b.experts, rows, sums, stream);
  accumulate_score_mass(score, tokens, b.experts, b.prob_mass.data(), stream);
  accumulate_coactivation(d_chosen.data(), tokens, k, b.experts, b.coactivation.data(), stream);
}

ChannelStatistics DeviceChannelStatistics::download() const {
  const Buffers& b = *buffers_;
  b.context->activate();
  const cudaStream_t stream = b.context->stream_handle();
  ChannelStatistics out;
  out.abs_sum = to_host(b.abs_sum.data(), b.abs_sum.size(), stream);
  out.sq_sum = to_host(b.sq_sum.data(), b.sq_sum.size(), stream);
  out.weighted_abs_sum = to_host(b.weighted_abs_sum.data(), b.weighted_abs_sum.size(), stream);
  out.weighted_sq_sum = to_host(b.weighted_sq_sum.data(), b.weighted_sq_sum.size(), stream);
  out.abs_max = to_host(b.abs_max.data(), b.abs_max.size(), stream);
  out.router_prob_mass = to_host(b.prob_mass.data(), b.prob_mass.size(), stream);
  const std::vector<unsigned long long> counts = to_host(b.coactivation.data(), b.coactivation.size(), stream);
  out.coactivation.assign(counts.begin(), counts.end());
  return out;
}

}  // namespace moqa::cuda
