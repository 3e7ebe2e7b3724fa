#include "analysis/statistics_observer.h"

#include "core/error.h"
#include "quant/rtn.h"

namespace moqa::analysis {

StatisticsObserver::StatisticsObserver(model::Model& model, std::vector<LayerAccumulator>& layers, bool gate_weighted,
                                       std::optional<quant::QuantSpec> sensitivity)
    : model_(model),
      backend_(model.backend()),
      layers_(layers),
      gate_weighted_(gate_weighted),
      sensitivity_(sensitivity) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t layer = layers_[i].layer;
    MOQA_CHECK(layer >= 0, "analysis: accumulator for layer ", layer);
    if (static_cast<size_t>(layer) >= slot_of_layer_.size()) slot_of_layer_.resize(static_cast<size_t>(layer) + 1, -1);
    MOQA_CHECK(slot_of_layer_[static_cast<size_t>(layer)] < 0, "analysis: two accumulators for layer ", layer);
    slot_of_layer_[static_cast<size_t>(layer)] = static_cast<int64_t>(i);
    MOQA_CHECK(layers_[i].sensitivity_enabled == sensitivity_.has_value(), "analysis: layer ", layer,
               layers_[i].sensitivity_enabled ? " accumulates sensitivity without a reference quantizer"
                                              : " has no sensitivity sums but a reference quantizer was given");
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

LayerAccumulator* StatisticsObserver::tracked(int64_t layer) {
  const auto l = static_cast<size_t>(layer);
  if (layer < 0 || l >= slot_of_layer_.size() || slot_of_layer_[l] < 0) return nullptr;
  LayerAccumulator& acc = layers_[static_cast<size_t>(slot_of_layer_[l])];
  return acc.intermediate > 0 ? &acc : nullptr;
}

std::vector<float> StatisticsObserver::weight_error_times(const model::LinearId& id, const backend::Array& rows) {
  Tensor delta = model_.weight_tensor(id);
  const Tensor reference = quant::dequantize(quant::quantize_rtn(delta, *sensitivity_, model::to_string(id)));
  for (size_t i = 0; i < delta.data.size(); ++i) delta.data[i] = reference.data[i] - delta.data[i];
  return backend_.download(backend_.linear(rows, backend_.upload_weight(delta), nullptr)).data;
}

void StatisticsObserver::on_expert_input(const model::ExpertInputEvent& event) {
  if (!tracked(event.layer)) return;
  MOQA_CHECK(event.tokens.size() == event.weights.size(), "analysis: layer ", event.layer, ", expert ", event.expert,
             ": ", event.tokens.size(), " rows but ", event.weights.size(), " combine weights");
  pending_ = Pending{.layer = event.layer, .expert = event.expert, .omega = {}, .activations = {}, .gate_error = {},
                     .up_error = {}, .down_error = {}};
  pending_.omega.reserve(event.tokens.size());
  for (size_t i = 0; i < event.tokens.size(); ++i) {
    const int32_t t = event.tokens[i];
    double r = 1.0;
    if (!executor_token_weights_.empty()) {
      MOQA_CHECK(t >= 0 && static_cast<size_t>(t) < executor_token_weights_.size(), "analysis: layer ", event.layer,
                 ", expert ", event.expert, ": row of token ", t, " but re-weighting factors of ",
                 executor_token_weights_.size(), " tokens");
      r = executor_token_weights_[static_cast<size_t>(t)];
    }
    pending_.omega.push_back(r * (gate_weighted_ ? static_cast<double>(event.weights[i]) : 1.0));
  }
  if (sensitivity_) {
    pending_.gate_error = weight_error_times({event.layer, model::Linear::expert_gate, event.expert}, event.rows);
    pending_.up_error = weight_error_times({event.layer, model::Linear::expert_up, event.expert}, event.rows);
  }
}

void StatisticsObserver::on_linear_input(const model::LinearId& id, const backend::Array& input) {
  if (id.kind != model::Linear::expert_down || !tracked(id.layer)) return;
  MOQA_CHECK(id.layer == pending_.layer && id.expert == pending_.expert, "analysis: the down projection of layer ",
             id.layer, ", expert ", id.expert, " ran without that expert's input event");
  pending_.activations = backend_.download(input).data;
  if (sensitivity_) pending_.down_error = weight_error_times(id, input);
}

void StatisticsObserver::on_expert_output(const model::ExpertOutputEvent& event) {
  LayerAccumulator* acc = tracked(event.layer);
  if (!acc) return;
  MOQA_CHECK(event.layer == pending_.layer && event.expert == pending_.expert, "analysis: output of layer ",
             event.layer, ", expert ", event.expert, " without that expert's input event");
  const Tensor outputs = backend_.download(event.outputs);
  accumulate_expert_outputs(*acc, {.expert = event.expert, .omega = pending_.omega, .activations = pending_.activations,
                                   .outputs = outputs.data, .gate_error = pending_.gate_error,
                                   .up_error = pending_.up_error, .down_error = pending_.down_error});
  pending_ = Pending{};
}

}  // namespace moqa::analysis
