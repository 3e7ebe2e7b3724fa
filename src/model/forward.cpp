#include "model/forward.h"

#include <optional>

#include "core/error.h"
#include "model/observer.h"

namespace moqa::model {
namespace {

// Keeps each MoE layer's router logits on the host.
class RouterLogitsRecorder final : public ForwardObserver {
 public:
  RouterLogitsRecorder(backend::Backend& backend, std::vector<Tensor>& out) : backend_(backend), out_(out) {}
  void on_routing(const RoutingEvent& event) override {
    if (out_.size() <= static_cast<size_t>(event.layer)) out_.resize(static_cast<size_t>(event.layer) + 1);
    out_[static_cast<size_t>(event.layer)] = backend_.download(event.router_logits);
  }

 private:
  backend::Backend& backend_;
  std::vector<Tensor>& out_;
};

}  // namespace

Tensor forward_logits(Model& model, const TokenBatch& batch, const LayerContext& context, ForwardTrace* trace) {
  backend::Backend& backend = model.backend();
  LayerContext layer_context = context;
  ObserverList observers;
  std::optional<RouterLogitsRecorder> recorder;
  if (trace && trace->router_logits) {
    trace->routers.assign(static_cast<size_t>(model.config().num_layers), Tensor{});
    recorder.emplace(backend, trace->routers);
    observers.add(context.observer);
    observers.add(&*recorder);
    layer_context.observer = &observers;
  }
  const bool keep_hidden = trace && trace->hidden_states;
  if (keep_hidden) trace->hidden.clear();

  HiddenStates hidden = model.embed(batch);
  if (keep_hidden) trace->hidden.push_back(backend.download(hidden.values));
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) {
    model.forward_layer(layer, hidden, layer_context);
    if (keep_hidden && layer + 1 < model.config().num_layers) trace->hidden.push_back(backend.download(hidden.values));
  }
  const backend::Array normed = model.final_norm(hidden);
  if (keep_hidden) trace->hidden.push_back(backend.download(normed));
  return backend.download(model.logits(normed));
}

NextTokenTargets next_token_targets(const TokenBatch& batch) {
  MOQA_CHECK(batch.windows >= 0 && batch.seq_len >= 0 &&
                 static_cast<int64_t>(batch.ids.size()) == batch.windows * batch.seq_len,
             "next-token targets: batch of ", batch.windows, " windows x ", batch.seq_len, " tokens holds ",
             batch.ids.size(), " ids");
  NextTokenTargets out;
  for (int64_t w = 0; w < batch.windows; ++w) {
    for (int64_t p = 0; p + 1 < batch.seq_len; ++p) {
      out.rows.push_back(static_cast<int32_t>(w * batch.seq_len + p));
      out.targets.push_back(batch.ids[static_cast<size_t>(w * batch.seq_len + p + 1)]);
    }
  }
  return out;
}

void forward_layers_layer_major(Model& model, HiddenStateStore& store, const LayerContext& context) {
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) {
    for (size_t b = 0; b < store.size(); ++b) {
      HiddenStates hidden = store.take(b);
      model.forward_layer(layer, hidden, context);
      store.put(b, std::move(hidden));
    }
  }
}

}  // namespace moqa::model
