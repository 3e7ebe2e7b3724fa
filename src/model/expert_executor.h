#pragma once
// How a MoE layer's routed experts are run. The model routes tokens and hands the executor the
// normalised hidden states and the routing; the executor returns Σ_k w_k · expert_k(x_t) per token.
// LocalExpertExecutor runs every expert in this process; a distributed executor (src/dist) ships token
// rows to the rank owning each expert, which runs Model::run_experts on them, and ships the outputs back.
#include <cstdint>

#include "backend/array.h"
#include "backend/routing.h"

namespace moqa::model {

class Model;
class ForwardObserver;

class ExpertExecutor {
 public:
  virtual ~ExpertExecutor() = default;
  // x: [tokens, hidden]; routing covers the same tokens. Returns [tokens, hidden]. Runs the experts
  // through Model::run_experts, passing the observer on (which reports on_expert_input for each).
  virtual backend::Array run(Model& model, int64_t layer, const backend::Array& x, const backend::Routing& routing,
                             ForwardObserver* observer) = 0;
};

// Runs the experts of a layer as one Model::run_experts batch in ascending index order and sums their
// weighted outputs per token in that order (the order transformers uses). Every expert that receives
// tokens must be loaded here.
class LocalExpertExecutor final : public ExpertExecutor {
 public:
  backend::Array run(Model& model, int64_t layer, const backend::Array& x, const backend::Routing& routing,
                     ForwardObserver* observer) override;
};

}  // namespace moqa::model
