#pragma once
// A Mixture-of-Experts decoder (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-MoE, DeepSeek-V3) run layer
// by layer on a backend, computing exactly what Hugging Face transformers computes for each family.
//
// Execution is explicit so later stages can interleave their own work between layers:
//   HiddenStates h = model.embed(batch);                   // [windows*seq_len, hidden]
//   for (layer...) model.forward_layer(layer, h, context); // residual stream updated in place
//   Array normed = model.final_norm(h);
//   Array logits = model.logits(normed);                   // or model.token_nll(...) without all logits
// GPTQ's sequential protocol runs all calibration batches through layer L, replaces L's weights
// (set_weight), re-runs L on the same inputs, then moves to L+1.
//
// Memory: weights of every layer stay resident unless options.stream_weights, in which case exactly one
// decoder layer is resident at a time (loading layer L releases the others; embeddings, final norm and
// lm_head stay); with options.read_ahead, loading L also starts reading L+1 on a second thread. Routed
// experts a process does not own (options.owns_expert) are never loaded. A MoE layer's routed experts run
// as one batch (run_experts), which a backend may spread over its threads.
//
// Hooks for later stages: a ForwardObserver (observer.h) sees every MoE layer's routing (router logits,
// scores, chosen experts and weights, the normalised inputs), every expert's input rows and every linear
// layer's input; an ExpertExecutor (expert_executor.h) decides where routed experts run; weights come
// from a WeightSource (weight_source.h), can be read (weight / weight_tensor, listed by layer_linears in
// weight_names.h) and replaced (set_weight; a routed expert's w1/w3/w2 are Linear::expert_gate/up/down).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "io/hf_config.h"
#include "model/weight_names.h"
#include "model/weight_source.h"

namespace moqa::model {

class ExpertExecutor;
class ForwardObserver;

struct ModelOptions {
  bool stream_weights = false;
  // With stream_weights: while layer L runs, a second thread reads layer L+1 from the weight source (one
  // more layer of float32 host memory), so that a layer-major pass waits for the checkpoint once. The
  // source's load then runs on that thread: it must be safe to call concurrently and must not change
  // while the model runs (a source the caller keeps adding to, like the quantize stage's, must not).
  bool read_ahead = false;
  // Which routed experts this process loads and runs; empty = all of them.
  std::function<bool(int64_t layer, int64_t expert)> owns_expert;
  // token_nll computes the lm_head over at most this many rows at a time (bounds the logits' memory).
  int64_t logits_chunk_rows = 512;
};

// `windows` sequences of `seq_len` token ids, window-major (ids.size() == windows * seq_len). A batch
// may have zero windows (seq_len must still be positive): see forward_layer.
struct TokenBatch {
  int64_t windows = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> ids;
};

// The residual stream of a batch: row = window * seq_len + position.
struct HiddenStates {
  int64_t windows = 0;
  int64_t seq_len = 0;
  backend::Array values;  // [windows * seq_len, hidden_size]
  int64_t tokens() const { return windows * seq_len; }
};

// The rows one routed expert runs on, for Model::run_experts: what an executor gathered for it.
struct ExpertRows {
  int64_t expert = 0;
  backend::Array rows;              // [n, hidden]
  std::span<const int32_t> tokens;  // each row's token in the executor's index space (ExpertInputEvent)
  std::span<const float> weights;   // each row's combine weight
};

// Per-call choices of forward_layer: who runs the routed experts (null: a LocalExpertExecutor) and who
// watches (null: nobody).
struct LayerContext {
  ExpertExecutor* experts = nullptr;
  ForwardObserver* observer = nullptr;
};

// Not thread-safe: one thread drives a Model. Observers and executors called during forward_layer must
// not load or release other layers of the same model.
class Model {
 public:
  Model(ModelConfig config, std::shared_ptr<const WeightSource> weights, backend::Backend& backend,
        ModelOptions options = {});
  // config.json + the safetensors checkpoint in `model_dir`.
  static Model open(const std::filesystem::path& model_dir, backend::Backend& backend, ModelOptions options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  const ModelConfig& config() const { return config_; }
  backend::Backend& backend() const { return *backend_; }
  const ModelOptions& options() const { return options_; }
  const WeightSource& weights() const { return *weights_; }

  // ---- Forward -------------------------------------------------------------------------------------
  HiddenStates embed(const TokenBatch& batch);
  // One decoder layer: h += attention(norm(h)); h += feed_forward(norm(h)). A batch of zero windows
  // (a rank without data) computes nothing but still calls context.experts->run once per MoE layer.
  void forward_layer(int64_t layer, HiddenStates& hidden, const LayerContext& context = {});
  backend::Array final_norm(const HiddenStates& hidden);
  backend::Array logits(const backend::Array& normed);  // [rows, vocab]
  // NLL of targets[i] at row rows[i] of `normed`, computing the lm_head in chunks of
  // options.logits_chunk_rows rows; never materialises all logits.
  std::vector<float> token_nll(const backend::Array& normed, std::span<const int32_t> rows,
                               std::span<const int32_t> targets);

  // ---- Experts -------------------------------------------------------------------------------------
  bool owns_expert(int64_t layer, int64_t expert) const;
  // One routed expert on its input rows [n, hidden] -> [n, hidden]: down(silu(gate(x)) * up(x)).
  // The expert must be owned; its layer is loaded if needed. Reports linear inputs and then the expert's
  // output (on_expert_output) to `observer`.
  backend::Array run_expert(int64_t layer, int64_t expert, const backend::Array& rows,
                            ForwardObserver* observer = nullptr);
  // Several routed experts of one layer, each on its own rows -> their outputs, in batch order. The
  // backend may run them concurrently (Backend::routed_experts); the observer then hears about each expert in
  // batch order, as if they had run one after another: on_expert_input, its linear inputs, on_expert_output.
  std::vector<backend::Array> run_experts(int64_t layer, std::span<const ExpertRows> batch,
                                          ForwardObserver* observer = nullptr);

  // ---- Weights -------------------------------------------------------------------------------------
  void load_layer(int64_t layer);     // in streaming mode, releases every other layer first
  void release_layer(int64_t layer);  // drops the layer's weights, including replacements
  bool layer_resident(int64_t layer) const;
  // A resident linear weight [out, in] (the layer is loaded if needed).
  const backend::Array& weight(const LinearId& id);
  Tensor weight_tensor(const LinearId& id);  // host copy
  // Replaces a linear weight (e.g. with dequantized values); the shape must match. The replacement
  // lasts until the layer is released (in streaming mode: until another layer is loaded).
  void set_weight(const LinearId& id, const Tensor& values);

 private:
  struct LinearWeights {
    backend::Array weight;
    backend::Array bias;  // empty when the linear has none
  };
  struct ExpertWeights {
    LinearWeights gate, up, down;
    LinearWeights& of(Linear kind) {
      return kind == Linear::expert_gate ? gate : kind == Linear::expert_up ? up : down;
    }
  };
  struct LayerWeights {
    bool resident = false;
    std::map<Linear, LinearWeights> linears;  // everything but routed experts
    std::map<Vector, backend::Array> vectors;
    std::vector<ExpertWeights> experts;  // [n_experts]; empty weights for experts not owned
  };
  struct RopeArrays {
    backend::Array cos, sin;
  };
  // A layer's weights as the source returned them, before the backend holds them.
  struct HostLinear {
    LinearId id;
    Tensor weight;
    std::optional<Tensor> bias;
  };
  struct HostLayer {
    int64_t layer = -1;
    std::vector<HostLinear> linears;  // replicated ones, then owned routed experts
    std::vector<std::pair<Vector, Tensor>> vectors;
  };
  static HostLayer read_layer(const ModelConfig& config, const WeightSource& weights, int64_t layer,
                              const std::function<bool(int64_t, int64_t)>& owns_expert);
  LayerWeights upload_layer(HostLayer host);

  LayerWeights& resident_layer(int64_t layer);
  LinearWeights& linear_slot(const LinearId& id);
  const LinearWeights& layer_linear(const LayerWeights& layer, int64_t index, Linear kind) const;
  const RopeArrays& rope(int64_t seq_len);
  backend::Array apply(const LinearWeights& w, const backend::Array& x, const LinearId& id, ForwardObserver* observer);
  // The backend job of one SwiGLU MLP on x (pointers into the arguments).
  static backend::SwigluJob swiglu_job(const LinearWeights& gate, const LinearWeights& up, const LinearWeights& down,
                                       const backend::Array& x);
  backend::Array swiglu(const LinearWeights& gate, const LinearWeights& up, const LinearWeights& down,
                        const backend::Array& x, LinearId gate_id, ForwardObserver* observer);
  // Routed experts of `layer` on their rows; report_inputs: call on_expert_input before each expert's events.
  std::vector<backend::Array> run_routed(int64_t layer, std::span<const ExpertRows> batch, ForwardObserver* observer,
                                         bool report_inputs);
  backend::Array attention(int64_t layer, const LayerWeights& w, const backend::Array& x, const HiddenStates& shape,
                           ForwardObserver* observer);
  backend::Array latent_attention(int64_t layer, const LayerWeights& w, const backend::Array& x,
                                  const HiddenStates& shape, ForwardObserver* observer);
  backend::Array feed_forward(int64_t layer, const LayerWeights& w, const backend::Array& x, const HiddenStates& shape,
                              const LayerContext& context);

  ModelConfig config_;
  std::shared_ptr<const WeightSource> weights_;
  backend::Backend* backend_;
  ModelOptions options_;
  backend::Array embed_tokens_, final_norm_, lm_head_;
  std::vector<LayerWeights> layers_;
  std::map<int64_t, RopeArrays> rope_;  // by window length
  std::future<HostLayer> read_ahead_;   // layer read_ahead_layer_ being read (options_.read_ahead)
  int64_t read_ahead_layer_ = -1;
};

}  // namespace moqa::model
