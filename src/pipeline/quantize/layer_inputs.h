#pragma once
// The calibration inputs GPTQ needs from one decoder layer's forward pass (docs/QUANTIZATION.md §3):
//   - routed experts: the expert's owner sees every row routed to it (from all ranks, in rank order) in
//     Model::run_expert and accumulates the Hessians right there: one of gate/up's shared input and one
//     of down's input silu(gate)·up;
//   - replicated linears: each rank sees only its own tokens, so the collector records the rows of each
//     input group for the current batch, and the pass gathers them (gather_rows) to the group's
//     quantizing rank, which accumulates them in rank order, exactly as one process would.
#include <mpi.h>

#include <cstdint>
#include <map>
#include <vector>

#include "backend/backend.h"
#include "model/observer.h"
#include "pipeline/quantize/quantization_plan.h"
#include "quant/hessian.h"

namespace moqa::pipeline {

class LayerInputCollector final : public model::ForwardObserver {
 public:
  // groups: the input groups to collect. expert_input / expert_down: the Hessians of `experts`, routed
  // experts of `layer` this rank owns; any other group: the rows of the replicated linears reading it.
  LayerInputCollector(backend::Backend& backend, int64_t layer, const std::vector<int64_t>& experts, int64_t hidden,
                      int64_t expert_width, std::vector<InputGroup> groups);

  void on_linear_input(const model::LinearId& id, const backend::Array& input) override;

  // which = expert_input (gate/up) or expert_down.
  quant::HessianSum& expert_hessian(int64_t expert, InputGroup which);
  // The rows `group` saw since the previous call ([0, cols] when none), forgotten afterwards.
  Tensor take_rows(InputGroup group, int64_t cols);

 private:
  struct Recorded {
    Tensor rows;
    const backend::ArrayStorage* storage = nullptr;  // the array they came from (shared by the group's linears)
  };
  backend::Backend& backend_;
  int64_t layer_;
  std::map<int64_t, quant::HessianSum> expert_input_, expert_down_;  // empty when not collected
  std::vector<InputGroup> groups_;
  std::map<InputGroup, Recorded> recorded_;
};

// rows [n_r, cols] of every rank, concatenated in rank order on `root`; an empty [0, cols] tensor on the
// other ranks. Collective.
Tensor gather_rows(const Tensor& rows, int64_t cols, int root, MPI_Comm comm);

}  // namespace moqa::pipeline
