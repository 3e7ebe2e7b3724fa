#pragma once
// The forward observer that feeds the accumulators (accumulators.h), on two sides:
//   - input side, at each MoE layer's routing event on the rank that holds the tokens: it downloads the
//     experts' input rows and the router scores and adds them to that layer's LayerAccumulator. Every
//     expert of a layer reads the same normalised hidden state, so this sees exactly the rows each expert
//     receives and knows each token's id (for re-weighting).
//   - output side (when the accumulator has one), on the rank that runs the expert (its owner, with rows
//     from every rank): the expert's SwiGLU activations (the down projection's input) and its outputs,
//     and with sensitivity the output errors of its matrices at the RTN reference width.
// A row's weight on the owner needs its token's re-weighting factor, which the owner cannot derive (it
// sees rows, not token ids): the caller hands it the factors of the executor's token index space
// (set_token_weights' all_ranks), i.e. every rank's batch concatenated in rank order for the distributed
// executor (dist/alltoall_executor.h numbers tokens so) and this rank's batch for the local one.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "analysis/accumulators.h"
#include "backend/backend.h"
#include "model/model.h"
#include "model/observer.h"
#include "quant/format.h"

namespace moqa::analysis {

class StatisticsObserver final : public model::ForwardObserver {
 public:
  // layers: one accumulator per MoE layer (any order, distinct layer indices); routing events of other
  // layers are an error. gate_weighted: ω includes the combine weight (accumulators.h). model: the model
  // being run (the owner's expert weights, for sensitivity). sensitivity: the RTN reference of the
  // sensitivity measure, required iff the accumulators have sensitivity sums.
  StatisticsObserver(model::Model& model, std::vector<LayerAccumulator>& layers, bool gate_weighted,
                     std::optional<quant::QuantSpec> sensitivity = std::nullopt);

  // r_t of every token of the batch about to be run (row order of the batch) and of the executor's token
  // index space (see above; empty: every factor is 1). Both must outlive the forward.
  void set_token_weights(std::span<const double> local, std::span<const double> all_ranks = {}) {
    token_weights_ = local;
    executor_token_weights_ = all_ranks;
  }

  void on_routing(const model::RoutingEvent& event) override;
  void on_expert_input(const model::ExpertInputEvent& event) override;
  void on_linear_input(const model::LinearId& id, const backend::Array& input) override;
  void on_expert_output(const model::ExpertOutputEvent& event) override;

 private:
  LayerAccumulator* tracked(int64_t layer);  // null when the layer has no output side
  // ΔW·rows for one of the current expert's matrices: (RTN(W) - W) applied with the backend's linear.
  std::vector<float> weight_error_times(const model::LinearId& id, const backend::Array& rows);

  model::Model& model_;
  backend::Backend& backend_;
  std::vector<LayerAccumulator>& layers_;
  std::vector<int64_t> slot_of_layer_;  // model layer -> index in layers_, -1 when not tracked
  bool gate_weighted_;
  std::optional<quant::QuantSpec> sensitivity_;
  std::span<const double> token_weights_;
  std::span<const double> executor_token_weights_;

  // The expert between its ExpertInputEvent and its ExpertOutputEvent (output side only).
  struct Pending {
    int64_t layer = -1, expert = -1;
    std::vector<double> omega;
    std::vector<float> activations, gate_error, up_error, down_error;
  };
  Pending pending_;
};

}  // namespace moqa::analysis
