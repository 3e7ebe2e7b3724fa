#include "eval/scored_batches.h"

#include <algorithm>

#include "model/forward.h"

namespace moqa::eval {

void score_batches(model::Model& model, std::span<const ScoredBatch> batches, int64_t min_batches,
                   const model::HiddenSpill& spill, const model::LayerContext& context,
                   const ScoredBatchConsumer& consume) {
  const size_t runs = std::max(batches.size(), static_cast<size_t>(std::max<int64_t>(min_batches, 0)));
  // A padding batch has no windows; its seq_len only has to be positive.
  const model::TokenBatch empty{
      .windows = 0, .seq_len = batches.empty() ? 1 : batches.front().tokens.seq_len, .ids = {}};
  const auto tokens_of = [&](size_t i) -> const model::TokenBatch& {
    return i < batches.size() ? batches[i].tokens : empty;
  };
  const auto finish = [&](size_t i, const model::HiddenStates& hidden) {
    if (i >= batches.size()) return;
    const backend::Array normed = model.final_norm(hidden);
    const std::vector<float> nll = model.token_nll(normed, batches[i].rows, batches[i].targets);
    consume(i, normed, nll);
  };

  if (model.options().stream_weights) {
    model::HiddenStateStore store(model.backend(), spill);
    for (size_t i = 0; i < runs; ++i) store.add(model.embed(tokens_of(i)));
    model::forward_layers_layer_major(model, store, context);
    for (size_t i = 0; i < runs; ++i) finish(i, store.take(i));  // take() frees a resident batch
    return;
  }
  for (size_t i = 0; i < runs; ++i) {
    model::HiddenStates hidden = model.embed(tokens_of(i));
    for (int64_t layer = 0; layer < model.config().num_layers; ++layer) model.forward_layer(layer, hidden, context);
    finish(i, hidden);
  }
}

}  // namespace moqa::eval
