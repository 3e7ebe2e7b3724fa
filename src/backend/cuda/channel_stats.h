#pragma once
// The per-(expert, channel) calibration sums of one MoE layer kept on the device, fed with the arrays a
// ForwardObserver sees (the experts' input rows, the router scores) and the host routing: the O(tokens ×
// channels) part of analysis::accumulate (src/analysis/accumulators.h), whose field names it keeps. The
// O(tokens × top_k) host sums (counts, gate and weight mass, token weight sum) stay with the analysis code.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/array.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/routing.h"

namespace moqa::cuda {

struct Context;

// Host copy of the device sums; each vector has the layout of the same field of analysis::LayerAccumulator.
struct ChannelStatistics {
  std::vector<double> abs_sum, sq_sum, weighted_abs_sum, weighted_sq_sum, abs_max;  // [experts * channels]
  std::vector<double> router_prob_mass;                                             // [experts]
  std::vector<int64_t> coactivation;                                                // [experts * experts]
};

class DeviceChannelStatistics {
 public:
  DeviceChannelStatistics(backend::CudaBackend& backend, int64_t experts, int64_t channels);
  ~DeviceChannelStatistics();
  DeviceChannelStatistics(DeviceChannelStatistics&&) noexcept;
  DeviceChannelStatistics& operator=(DeviceChannelStatistics&&) noexcept;

  // inputs [tokens, channels] and scores [tokens, experts] on this backend; token_weights [tokens] (r_t);
  // a routed pair weighs r_t · (gate_weighted ? combine weight : 1), as in analysis::accumulate. Routing
  // errors (an expert out of range, a token routed twice to one expert) throw before anything is added.
  void accumulate(const backend::Array& inputs, const backend::Array& scores, const backend::Routing& routing,
                  std::span<const double> token_weights, bool gate_weighted);
  ChannelStatistics download() const;  // synchronises

 private:
  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

}  // namespace moqa::cuda
