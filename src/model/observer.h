#pragma once
// Hooks into the forward pass for calibration statistics and quantization (Hessians): the model and the
// expert executors call a ForwardObserver at fixed points with backend arrays. An observer that needs
// the values on the host downloads them itself (the well-defined host transfer points of a forward).
// Every method has an empty default, so an observer implements only what it needs.
#include <cstdint>
#include <span>
#include <vector>

#include "backend/array.h"
#include "backend/routing.h"
#include "model/weight_names.h"

namespace moqa::model {

// One MoE layer's routing of this rank's tokens, before any expert runs.
struct RoutingEvent {
  int64_t layer = 0;
  int64_t windows = 0, seq_len = 0;     // token t is position t % seq_len of window t / seq_len
  const backend::Array& input;          // [tokens, hidden]: post-attention-norm states fed to router and experts
  const backend::Array& router_logits;  // [tokens, n_experts]
  const backend::Array& scores;         // [tokens, n_experts]: softmax or sigmoid of the logits, unbiased
  const backend::Routing& routing;      // chosen experts and combine weights per token
};

// The rows one routed expert is about to process. Called by the executor on the process that runs the
// expert (for a distributed executor: the expert's owner, with rows from every rank).
struct ExpertInputEvent {
  int64_t layer = 0;
  int64_t expert = 0;
  const backend::Array& rows;        // [n, hidden]
  std::span<const int32_t> tokens;   // each row's token index in the executor's input (local executor)
  std::span<const float> weights;    // each row's combine weight
};

// What one routed expert returned for the rows of the preceding ExpertInputEvent (same process, same order).
struct ExpertOutputEvent {
  int64_t layer = 0;
  int64_t expert = 0;
  const backend::Array& outputs;  // [n, hidden]: down(silu(gate x) * up x), before the combine weight
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void on_routing(const RoutingEvent& event) { (void)event; }
  virtual void on_expert_input(const ExpertInputEvent& event) { (void)event; }
  virtual void on_expert_output(const ExpertOutputEvent& event) { (void)event; }
  // The input of every linear layer right before it is applied ([rows, in_features]); linears that
  // share an input (q, k and v; an expert's gate and up) each get the same array. Expert down
  // projections receive silu(gate)·up.
  virtual void on_linear_input(const LinearId& id, const backend::Array& input) {
    (void)id;
    (void)input;
  }
};

// Forwards every call to several observers in the order they were added (e.g. statistics and
// Hessians in one pass). Does not own them.
class ObserverList final : public ForwardObserver {
 public:
  void add(ForwardObserver* observer) {
    if (observer) observers_.push_back(observer);
  }
  void on_routing(const RoutingEvent& e) override {
    for (ForwardObserver* o : observers_) o->on_routing(e);
  }
  void on_expert_input(const ExpertInputEvent& e) override {
    for (ForwardObserver* o : observers_) o->on_expert_input(e);
  }
  void on_expert_output(const ExpertOutputEvent& e) override {
    for (ForwardObserver* o : observers_) o->on_expert_output(e);
  }
  void on_linear_input(const LinearId& id, const backend::Array& input) override {
    for (ForwardObserver* o : observers_) o->on_linear_input(id, input);
  }

 private:
  std::vector<ForwardObserver*> observers_;
};

}  // namespace moqa::model
