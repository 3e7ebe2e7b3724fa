#include "analysis/statistics_observer.h"

#include "core/error.h"

namespace moqa::analysis {

StatisticsObserver::StatisticsObserver(backend::Backend& backend, std::vector<LayerAccumulator>& layers,
                                       bool gate_weighted)
    : backend_(backend), layers_(layers), gate_weighted_(gate_weighted) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t layer = layers_[i].layer;
    MOQA_CHECK(layer >= 0, "analysis: accumulator for layer ", layer);
    if (static_cast<size_t>(layer) >= slot_of_layer_.size()) slot_of_layer_.resize(static_cast<size_t>(layer) + 1, -1);
    MOQA_CHECK(slot_of_layer_[static_cast<size_t>(layer)] < 0, "analysis: two accumulators for layer ", layer);
    slot_of_layer_[static_cast<size_t>(layer)] = static_cast<int64_t>(i);
  }
}

void StatisticsObserver::on_routing(const model::RoutingEvent& event) {
  const auto layer = static_cast<size_t>(event.layer);
  MOQA_CHECK(layer < slot_of_layer_.size() && slot_of_layer_[layer] >= 0, "analysis: routing event of layer ",
             event.layer, ", which has no statistics accumulator");
  LayerAccumulator& acc = layers_[static_cast<size_t>(slot_of_layer_[layer])];
  if (event.routing.tokens == 0) return;
  const Tensor inputs = backend_.download(event.input);
  const Tensor scores = backend_.download(event.scores);
  accumulate(acc,
             RoutedBatch{.inputs = inputs.data, .scores = scores.data, .routing = event.routing,
                         .token_weights = token_weights_},
             gate_weighted_);
}

}  // namespace moqa::analysis
