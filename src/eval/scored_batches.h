#pragma once
// The forward loop every likelihood evaluation shares (perplexity windows, zero-shot continuations): run
// token batches through the whole model and score chosen (row, target) pairs with Model::token_nll.
//
// Collective executors (the MPI all-to-all one) need every rank to run the same number of forward passes:
// `min_batches` pads the list with zero-window batches, which compute nothing but still take part in every
// MoE layer's exchange. With model.options().stream_weights the batches run layer-major (each layer loaded
// once) and all of their hidden states are held until scored: in memory up to `spill`'s budget, the rest
// in its scratch file (model/hidden_store.h; the same numbers bit for bit).
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/hidden_store.h"
#include "model/model.h"

namespace moqa::eval {

// One forward batch and what it scores: targets[i] is predicted by hidden row rows[i]
// (row = window * seq_len + position).
struct ScoredBatch {
  model::TokenBatch tokens;
  std::vector<int32_t> rows;
  std::vector<int32_t> targets;
};

// Called once per real batch, in order, with the batch's final-normed hidden states (for callers that need
// more than the NLLs, e.g. the greedy check) and the NLL of each of its targets.
using ScoredBatchConsumer = std::function<void(size_t batch, const backend::Array& normed, std::span<const float> nll)>;

void score_batches(model::Model& model, std::span<const ScoredBatch> batches, int64_t min_batches,
                   const model::HiddenSpill& spill, const model::LayerContext& context,
                   const ScoredBatchConsumer& consume);

}  // namespace moqa::eval
