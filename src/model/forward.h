#pragma once
// The whole forward pass composed from the layer-by-layer API, for evaluation, tests and benchmarks.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "model/hidden_store.h"
#include "model/model.h"

namespace moqa::model {

// What forward() can record on the host, in transformers' output_hidden_states convention:
// hidden_states[0] = embeddings, [i] = output of layer i-1, the last entry taken AFTER the final norm
// (num_layers + 1 entries); router_logits[layer] = [tokens, n_experts] for MoE layers (empty for dense).
struct ForwardTrace {
  bool hidden_states = false;
  bool router_logits = false;
  std::vector<Tensor> hidden;
  std::vector<Tensor> routers;
};

// Logits [windows*seq_len, vocab] on the host.
Tensor forward_logits(Model& model, const TokenBatch& batch, const LayerContext& context = {},
                      ForwardTrace* trace = nullptr);

// The next-token NLL positions of a batch, the perplexity workload: row w * seq_len + p predicts the id at
// position p + 1 of window w, for every position but each window's last (token_nll's rows and targets).
struct NextTokenTargets {
  std::vector<int32_t> rows;
  std::vector<int32_t> targets;
};
NextTokenTargets next_token_targets(const TokenBatch& batch);

// Runs every layer over all batches of `store` layer-major (all batches through layer L, then L+1), which
// keeps one layer resident in streaming mode; the batches' hidden states stay in the store (in memory up
// to its budget, in its scratch file beyond it) and hold the last layer's output afterwards.
void forward_layers_layer_major(Model& model, HiddenStateStore& store, const LayerContext& context = {});

}  // namespace moqa::model
