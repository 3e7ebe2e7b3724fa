#pragma once
// The forward observer that feeds the accumulators: at each MoE layer's routing event (on the rank that
// holds the tokens) it downloads the experts' input rows and the router scores and adds them to that
// layer's LayerAccumulator. Statistics are taken where the tokens live rather than where the experts
// run: every expert of a layer reads the same normalised hidden state, so this sees exactly the rows
// each expert receives, knows each token's id (for re-weighting) and works with any ExpertExecutor.
#include <cstdint>
#include <span>
#include <vector>

#include "analysis/accumulators.h"
#include "backend/backend.h"
#include "model/observer.h"

namespace moqa::analysis {

class StatisticsObserver final : public model::ForwardObserver {
 public:
  // layers: one accumulator per MoE layer (any order, distinct layer indices); routing events of other
  // layers are an error. gate_weighted: ω includes the combine weight (accumulators.h).
  StatisticsObserver(backend::Backend& backend, std::vector<LayerAccumulator>& layers, bool gate_weighted);

  // r_t of every token of the batch about to be run (row order of the batch); must outlive the forward.
  void set_token_weights(std::span<const double> weights) { token_weights_ = weights; }

  void on_routing(const model::RoutingEvent& event) override;

 private:
  backend::Backend& backend_;
  std::vector<LayerAccumulator>& layers_;
  std::vector<int64_t> slot_of_layer_;  // model layer -> index in layers_, -1 when not tracked
  bool gate_weighted_;
  std::span<const double> token_weights_;
};

}  // namespace moqa::analysis
