#include "model/model.h"

#include <algorithm>

#include "core/error.h"
#include "model/expert_executor.h"
#include "model/observer.h"
#include "model/rope.h"

namespace moqa::model {

using backend::Array;

namespace {

// Configurations the forward pass cannot run faithfully are refused up front, naming the config key.
void check_supported(const ModelConfig& c) {
  // moqa's own quantized checkpoints (quant/checkpoint.h) are read through CheckpointWeights, which
  // dequantizes their weights on load; other formats (fp8, GPTQ exports, ...) are not.
  MOQA_CHECK(c.weight_quantization.empty() || c.weight_quantization == "moqa", c.source.string(),
             ": quantization_config.quant_method is \"", c.weight_quantization,
             "\": pre-quantized checkpoints are not supported (convert the weights to bf16/fp16/fp32 first; moqa's own "
             "quantized checkpoints, quant_method \"moqa\", are)");
  MOQA_CHECK(static_cast<int64_t>(c.layer_is_moe.size()) == c.num_layers, c.source.string(), ": ",
             c.layer_is_moe.size(), " layer kinds for ", c.num_layers, " layers");
  MOQA_CHECK(c.head_dim > 0, c.source.string(), ": head dimension ", c.head_dim, " must be positive");
  MOQA_CHECK(rotary_dim(c) > 0 && rotary_dim(c) % 2 == 0, c.source.string(), ": rotary dimension ", rotary_dim(c),
             " must be positive and even");
}

}  // namespace

Model::Model(ModelConfig config, std::shared_ptr<const WeightSource> weights, backend::Backend& backend,
             ModelOptions options)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(&backend), options_(std::move(options)) {
  check_supported(config_);
  MOQA_CHECK(weights_ != nullptr, "model: no weight source");
  MOQA_CHECK(options_.logits_chunk_rows > 0, "model: logits_chunk_rows must be positive, got ",
             options_.logits_chunk_rows);
  const int64_t d = config_.hidden_size;
  embed_tokens_ = backend_->take_weight(weights_->load(embedding_name(), {config_.vocab_size, d}));
  final_norm_ = backend_->take_weight(weights_->load(final_norm_name(), {d}));
  lm_head_ = config_.tie_word_embeddings
                 ? embed_tokens_
                 : backend_->take_weight(weights_->load(lm_head_name(), {config_.vocab_size, d}));
  layers_.resize(static_cast<size_t>(config_.num_layers));
  if (!options_.stream_weights) {
    for (int64_t layer = 0; layer < config_.num_layers; ++layer) load_layer(layer);
  }
}

Model Model::open(const std::filesystem::path& model_dir, backend::Backend& backend, ModelOptions options) {
  ModelConfig config = load_hf_config(model_dir / "config.json");
  return Model(std::move(config), std::make_shared<CheckpointWeights>(model_dir), backend, std::move(options));
}

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

// ------------------------------------------------------------------------------------------- weights

namespace {

// ModelOptions::owns_expert's rule: an empty function owns every expert.
bool owned(const std::function<bool(int64_t, int64_t)>& owns_expert, int64_t layer, int64_t expert) {
  return !owns_expert || owns_expert(layer, expert);
}

}  // namespace

bool Model::owns_expert(int64_t layer, int64_t expert) const { return owned(options_.owns_expert, layer, expert); }

Model::HostLayer Model::read_layer(const ModelConfig& config, const WeightSource& weights, int64_t layer,
                                   const std::function<bool(int64_t, int64_t)>& owns_expert) {
  HostLayer host;
  host.layer = layer;
  const auto read = [&](const LinearId& id) {
    const Shape shape = weight_shape(config, id);
    HostLinear& linear = host.linears.emplace_back();
    linear.id = id;
    linear.weight = weights.load(weight_name(config, id), shape);
    if (const auto bias = bias_name(config, id)) linear.bias = weights.load(*bias, {shape[0]});
  };
  for (const LinearId& id : layer_linears(config, layer, /*include_experts=*/false)) read(id);
  for (const Vector v : layer_vectors(config, layer))
    host.vectors.emplace_back(v, weights.load(vector_name(config, layer, v), vector_shape(config, v)));
  if (config.is_moe_layer(layer)) {
    for (int64_t e = 0; e < config.num_experts; ++e) {
      if (!owned(owns_expert, layer, e)) continue;
      for (const Linear kind : {Linear::expert_gate, Linear::expert_up, Linear::expert_down}) read({layer, kind, e});
    }
  }
  return host;
}

Model::LayerWeights Model::upload_layer(HostLayer host) {
  LayerWeights fresh;
  if (config_.is_moe_layer(host.layer)) fresh.experts.resize(static_cast<size_t>(config_.num_experts));
  for (HostLinear& linear : host.linears) {
    LinearWeights w;
    w.weight = backend_->take_weight(std::move(linear.weight));
    if (linear.bias) w.bias = backend_->take_weight(std::move(*linear.bias));
    if (!linear.id.is_routed_expert()) {
      fresh.linears.emplace(linear.id.kind, std::move(w));
      continue;
    }
    ExpertWeights& ex = fresh.experts[static_cast<size_t>(linear.id.expert)];
    ex.of(linear.id.kind) = std::move(w);
  }
  for (auto& [v, values] : host.vectors) fresh.vectors.emplace(v, backend_->take_weight(std::move(values)));
  fresh.resident = true;
  return fresh;
}

void Model::load_layer(int64_t layer) {
  MOQA_CHECK(layer >= 0 && layer < config_.num_layers, "model: layer ", layer, " outside [0, ", config_.num_layers,
             ")");
  if (options_.stream_weights) {
    for (int64_t other = 0; other < config_.num_layers; ++other)
      if (other != layer) release_layer(other);
  }
  if (layers_[static_cast<size_t>(layer)].resident) return;
  HostLayer host;
  if (read_ahead_.valid() && read_ahead_layer_ == layer) {
    host = read_ahead_.get();  // rethrows what the reading thread ran into
  } else {
    read_ahead_ = {};  // (waits for a read of another layer to finish)
    host = read_layer(config_, *weights_, layer, options_.owns_expert);
  }
  read_ahead_layer_ = -1;
  if (options_.stream_weights && options_.read_ahead && layer + 1 < config_.num_layers) {
    read_ahead_layer_ = layer + 1;
    read_ahead_ =
        std::async(std::launch::async, [config = config_, weights = weights_, owns = options_.owns_expert,
                                        next = layer + 1] { return read_layer(config, *weights, next, owns); });
  }
  layers_[static_cast<size_t>(layer)] = upload_layer(std::move(host));
}

void Model::release_layer(int64_t layer) {
  MOQA_CHECK(layer >= 0 && layer < config_.num_layers, "model: layer ", layer, " outside [0, ", config_.num_layers,
             ")");
  layers_[static_cast<size_t>(layer)] = LayerWeights{};
}

bool Model::layer_resident(int64_t layer) const {
  return layer >= 0 && layer < config_.num_layers && layers_[static_cast<size_t>(layer)].resident;
}

Model::LayerWeights& Model::resident_layer(int64_t layer) {
  if (!layer_resident(layer)) load_layer(layer);
  return layers_[static_cast<size_t>(layer)];
}

Model::LinearWeights& Model::linear_slot(const LinearId& id) {
  LayerWeights& layer = resident_layer(id.layer);
  if (id.is_routed_expert()) {
    MOQA_CHECK(config_.is_moe_layer(id.layer), "model: ", to_string(id), ": layer ", id.layer, " is a dense layer");
    MOQA_CHECK(id.expert >= 0 && id.expert < config_.num_experts, "model: ", to_string(id), ": expert outside [0, ",
               config_.num_experts, ")");
    MOQA_CHECK(owns_expert(id.layer, id.expert), "model: ", to_string(id),
               " is not loaded in this process (not owned)");
    ExpertWeights& ex = layer.experts[static_cast<size_t>(id.expert)];
    return ex.of(id.kind);
  }
  const auto it = layer.linears.find(id.kind);
  MOQA_CHECK(it != layer.linears.end(), "model: ", arch_name(config_.arch), " layer ", id.layer, " has no ",
             linear_name(id.kind), " weight");
  return it->second;
}

const Model::LinearWeights& Model::layer_linear(const LayerWeights& layer, int64_t index, Linear kind) const {
  const auto it = layer.linears.find(kind);
  MOQA_CHECK(it != layer.linears.end(), "model: layer ", index, " has no ", linear_name(kind), " weight");
  return it->second;
}

const Array& Model::weight(const LinearId& id) { return linear_slot(id).weight; }

Tensor Model::weight_tensor(const LinearId& id) { return backend_->download(weight(id)); }

void Model::set_weight(const LinearId& id, const Tensor& values) {
  const Shape expected = weight_shape(config_, id);
  MOQA_CHECK(values.shape == expected, "model: replacement for ", to_string(id), " has shape ", to_string(values.shape),
             ", expected ", to_string(expected));
  linear_slot(id).weight = backend_->upload_weight(values);
}

// ------------------------------------------------------------------------------------------- forward

const Model::RopeArrays& Model::rope(int64_t seq_len) {
  auto it = rope_.find(seq_len);
  if (it == rope_.end()) {
    const RopeTables tables = rope_tables(config_, seq_len);
    it = rope_.emplace(seq_len, RopeArrays{backend_->upload(tables.cos), backend_->upload(tables.sin)}).first;
  }
  return it->second;
}

Array Model::apply(const LinearWeights& w, const Array& x, const LinearId& id, ForwardObserver* observer) {
  if (observer) observer->on_linear_input(id, x);
  return backend_->linear(x, w.weight, w.bias.empty() ? nullptr : &w.bias);
}

backend::SwigluJob Model::swiglu_job(const LinearWeights& gate, const LinearWeights& up, const LinearWeights& down,
                                     const Array& x) {
  const auto bias = [](const LinearWeights& w) { return w.bias.empty() ? nullptr : &w.bias; };
  return {.x = &x,
          .gate = &gate.weight,
          .gate_bias = bias(gate),
          .up = &up.weight,
          .up_bias = bias(up),
          .down = &down.weight,
          .down_bias = bias(down)};
}

namespace {

// The linear inputs of one SwiGLU MLP, in the order its products read them: gate and up see x, down the
// activation. gate, up and down are consecutive in the Linear enumeration for dense, shared and routed
// MLPs alike.
void report_swiglu_inputs(LinearId gate_id, const Array& x, const Array& activated, ForwardObserver& observer) {
  static_assert(static_cast<int>(Linear::dense_down) == static_cast<int>(Linear::dense_gate) + 2 &&
                static_cast<int>(Linear::shared_down) == static_cast<int>(Linear::shared_gate) + 2 &&
                static_cast<int>(Linear::expert_down) == static_cast<int>(Linear::expert_gate) + 2);
  const LinearId up_id{gate_id.layer, static_cast<Linear>(static_cast<int>(gate_id.kind) + 1), gate_id.expert};
  const LinearId down_id{gate_id.layer, static_cast<Linear>(static_cast<int>(gate_id.kind) + 2), gate_id.expert};
  observer.on_linear_input(gate_id, x);
  observer.on_linear_input(up_id, x);
  observer.on_linear_input(down_id, activated);
}

}  // namespace

Array Model::swiglu(const LinearWeights& gate, const LinearWeights& up, const LinearWeights& down, const Array& x,
                    LinearId gate_id, ForwardObserver* observer) {
  backend::SwigluResult result = backend::swiglu(*backend_, swiglu_job(gate, up, down, x), observer != nullptr);
  if (observer) report_swiglu_inputs(gate_id, x, result.activated, *observer);
  return std::move(result.out);
}

HiddenStates Model::embed(const TokenBatch& batch) {
  // Zero windows are allowed: a rank without data still runs forward_layer (see there).
  MOQA_CHECK(batch.windows >= 0 && batch.seq_len > 0, "model: batch of ", batch.windows, " windows of ",
             batch.seq_len, " tokens");
  MOQA_CHECK(static_cast<int64_t>(batch.ids.size()) == batch.windows * batch.seq_len, "model: batch of ",
             batch.windows, " windows x ", batch.seq_len, " tokens holds ", batch.ids.size(), " ids");
  return HiddenStates{batch.windows, batch.seq_len, backend_->embedding(embed_tokens_, batch.ids)};
}

void Model::forward_layer(int64_t layer, HiddenStates& hidden, const LayerContext& context) {
  MOQA_CHECK(layer >= 0 && layer < config_.num_layers, "model: layer ", layer, " outside [0, ", config_.num_layers,
             ")");
  MOQA_CHECK(hidden.values.rows() == hidden.tokens() && hidden.values.cols() == config_.hidden_size,
             "model: hidden states of shape ", to_string(hidden.values.shape), " for ", hidden.windows, " windows x ",
             hidden.seq_len, " tokens of width ", config_.hidden_size);
  const LayerWeights& w = resident_layer(layer);
  if (hidden.tokens() == 0) {
    // A rank without windows must still take part in a distributed executor's collectives, once per MoE
    // layer like every other rank; there is nothing to route, so observers see no routing event.
    if (config_.is_moe_layer(layer) && context.experts) {
      const backend::Routing none{.tokens = 0, .top_k = config_.top_k, .experts = {}, .weights = {}};
      context.experts->run(*this, layer, hidden.values, none, context.observer);
    }
    return;
  }
  const float eps = static_cast<float>(config_.rms_norm_eps);

  const Array x = backend_->rms_norm(hidden.values, w.vectors.at(Vector::input_norm), eps);
  const Array attended = config_.mla ? latent_attention(layer, w, x, hidden, context.observer)
                                     : attention(layer, w, x, hidden, context.observer);
  backend_->add(hidden.values, attended);

  const Array y = backend_->rms_norm(hidden.values, w.vectors.at(Vector::post_attention_norm), eps);
  const Array mixed = feed_forward(layer, w, y, hidden, context);
  backend_->add(hidden.values, mixed);
}

Array Model::attention(int64_t layer, const LayerWeights& w, const Array& x, const HiddenStates& shape,
                       ForwardObserver* observer) {
  const ModelConfig& c = config_;
  Array q = apply(layer_linear(w, layer, Linear::q), x, {layer, Linear::q}, observer);
  Array k = apply(layer_linear(w, layer, Linear::k), x, {layer, Linear::k}, observer);
  Array v = apply(layer_linear(w, layer, Linear::v), x, {layer, Linear::v}, observer);
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (c.qk_norm != QkNorm::none) {
    // The norm weight's length picks per-head (Qwen3) or whole-projection (OLMoE) normalisation.
    q = backend_->rms_norm(q, w.vectors.at(Vector::q_norm), eps);
    k = backend_->rms_norm(k, w.vectors.at(Vector::k_norm), eps);
  }
  if (c.clip_qkv) {  // OLMoE clamps after the q/k norm
    const float limit = static_cast<float>(*c.clip_qkv);
    backend_->clamp(q, limit);
    backend_->clamp(k, limit);
    backend_->clamp(v, limit);
  }
  const RopeArrays& tables = rope(shape.seq_len);
  const backend::RopeLayout q_layout{.seq_len = shape.seq_len, .heads = c.num_heads, .head_stride = c.head_dim,
                                     .offset = 0, .rot_dim = c.head_dim, .interleaved = c.rope.interleave};
  backend::RopeLayout k_layout = q_layout;
  k_layout.heads = c.num_kv_heads;
  backend_->rope(q, tables.cos, tables.sin, q_layout);
  backend_->rope(k, tables.cos, tables.sin, k_layout);

  int64_t window = 0;
  if (c.sliding_window && shape.seq_len > *c.sliding_window) {
    // transformers applies Mixtral's window to every layer; Qwen's depends on per-layer types moqa does
    // not model, so those are refused rather than approximated.
    MOQA_CHECK(c.arch == Arch::mixtral, c.source.string(), ": sliding-window attention (window ", *c.sliding_window,
               ") over windows of ", shape.seq_len, " tokens is not supported for ", arch_name(c.arch),
               "; use seq_len <= ", *c.sliding_window);
    window = *c.sliding_window;
  }
  const Array attended = backend_->attention(
      q, k, v,
      {.windows = shape.windows, .seq_len = shape.seq_len, .heads = c.num_heads, .kv_heads = c.num_kv_heads,
       .qk_dim = c.head_dim, .v_dim = c.head_dim, .scale = attention_scale(c), .window = window});
  return apply(layer_linear(w, layer, Linear::o), attended, {layer, Linear::o}, observer);
}

// DeepSeek-V3 multi-head latent attention. Queries: [nope | rope] per head. Keys: per-head nope part
// from the decompressed latent, plus one rope part shared by all heads. Values from the latent.
Array Model::latent_attention(int64_t layer, const LayerWeights& w, const Array& x, const HiddenStates& shape,
                              ForwardObserver* observer) {
  const ModelConfig& c = config_;
  const MlaConfig& m = c.mla_dims;
  const int64_t heads = c.num_heads, qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
  const int64_t nope = m.qk_nope_head_dim, rope_dim = m.qk_rope_head_dim, v_dim = m.v_head_dim;
  const int64_t tokens = x.rows();
  const float eps = static_cast<float>(c.rms_norm_eps);

  Array q;
  if (m.q_lora_rank > 0) {
    const Array compressed = apply(layer_linear(w, layer, Linear::q_a), x, {layer, Linear::q_a}, observer);
    const Array normed = backend_->rms_norm(compressed, w.vectors.at(Vector::q_a_norm), eps);
    q = apply(layer_linear(w, layer, Linear::q_b), normed, {layer, Linear::q_b}, observer);
  } else {
    q = apply(layer_linear(w, layer, Linear::q), x, {layer, Linear::q}, observer);
  }
  Array kv = apply(layer_linear(w, layer, Linear::kv_a), x, {layer, Linear::kv_a}, observer);  // [latent | k_rope]
  Array latent = backend_->zeros({tokens, m.kv_lora_rank});
  backend_->copy_blocks(kv, latent, {.count = 1, .width = m.kv_lora_rank});
  latent = backend_->rms_norm(latent, w.vectors.at(Vector::kv_a_norm), eps);
  const Array expanded = apply(layer_linear(w, layer, Linear::kv_b), latent, {layer, Linear::kv_b}, observer);

  const RopeArrays& tables = rope(shape.seq_len);
  backend_->rope(q, tables.cos, tables.sin,
                 {.seq_len = shape.seq_len, .heads = heads, .head_stride = qk, .offset = nope, .rot_dim = rope_dim,
                  .interleaved = c.rope.interleave});
  backend_->rope(kv, tables.cos, tables.sin,
                 {.seq_len = shape.seq_len, .heads = 1, .head_stride = m.kv_lora_rank + rope_dim,
                  .offset = m.kv_lora_rank, .rot_dim = rope_dim, .interleaved = c.rope.interleave});

  Array key = backend_->zeros({tokens, heads * qk});
  backend_->copy_blocks(expanded, key, {.count = heads, .width = nope, .src_offset = 0, .src_stride = nope + v_dim,
                                        .dst_offset = 0, .dst_stride = qk});
  backend_->copy_blocks(kv, key, {.count = heads, .width = rope_dim, .src_offset = m.kv_lora_rank, .src_stride = 0,
                                  .dst_offset = nope, .dst_stride = qk});
  Array value = backend_->zeros({tokens, heads * v_dim});
  backend_->copy_blocks(expanded, value, {.count = heads, .width = v_dim, .src_offset = nope,
                                          .src_stride = nope + v_dim, .dst_offset = 0, .dst_stride = v_dim});

  const Array attended = backend_->attention(
      q, key, value,
      {.windows = shape.windows, .seq_len = shape.seq_len, .heads = heads, .kv_heads = heads, .qk_dim = qk,
       .v_dim = v_dim, .scale = attention_scale(c)});
  return apply(layer_linear(w, layer, Linear::o), attended, {layer, Linear::o}, observer);
}

Array Model::feed_forward(int64_t layer, const LayerWeights& w, const Array& x, const HiddenStates& shape,
                          const LayerContext& context) {
  const ModelConfig& c = config_;
  ForwardObserver* observer = context.observer;
  if (!c.is_moe_layer(layer)) {
    return swiglu(layer_linear(w, layer, Linear::dense_gate), layer_linear(w, layer, Linear::dense_up),
                  layer_linear(w, layer, Linear::dense_down), x, {layer, Linear::dense_gate}, observer);
  }
  const Array router_logits = apply(layer_linear(w, layer, Linear::router), x, {layer, Linear::router}, observer);
  backend::RouterSpec spec;
  spec.scoring = c.scoring == RouterScoring::softmax ? backend::RouterSpec::Scoring::softmax
                                                     : backend::RouterSpec::Scoring::sigmoid;
  spec.top_k = c.top_k;
  spec.normalize = c.norm_topk_prob;
  spec.scaling = c.routed_scaling_factor;
  spec.n_group = c.n_group;
  spec.topk_group = c.topk_group;
  if (c.score_correction_bias) spec.selection_bias = &w.vectors.at(Vector::score_correction_bias);
  const backend::RouteResult routed = backend_->route(router_logits, spec);
  if (observer) {
    observer->on_routing({.layer = layer, .windows = shape.windows, .seq_len = shape.seq_len, .input = x,
                          .router_logits = router_logits, .scores = routed.scores, .routing = routed.routing});
  }

  LocalExpertExecutor local;
  ExpertExecutor& executor = context.experts ? *context.experts : local;
  Array out = executor.run(*this, layer, x, routed.routing, observer);
  MOQA_CHECK(out.rows() == x.rows() && out.cols() == x.cols(), "model: expert executor returned shape ",
             to_string(out.shape), " for input ", to_string(x.shape));

  if (c.shared_expert_intermediate_size > 0) {
    Array shared = swiglu(layer_linear(w, layer, Linear::shared_gate), layer_linear(w, layer, Linear::shared_up),
                          layer_linear(w, layer, Linear::shared_down), x, {layer, Linear::shared_gate}, observer);
    if (c.shared_expert_gated) {
      Array gate = apply(layer_linear(w, layer, Linear::shared_expert_gate), x, {layer, Linear::shared_expert_gate},
                         observer);
      backend_->sigmoid(gate);
      backend_->scale_rows(shared, gate);
    }
    backend_->add(out, shared);
  }
  return out;
}

Array Model::run_expert(int64_t layer, int64_t expert, const Array& rows, ForwardObserver* observer) {
  const ExpertRows one{.expert = expert, .rows = rows, .tokens = {}, .weights = {}};
  return std::move(run_routed(layer, {&one, 1}, observer, /*report_inputs=*/false)[0]);
}

std::vector<Array> Model::run_experts(int64_t layer, std::span<const ExpertRows> batch, ForwardObserver* observer) {
  return run_routed(layer, batch, observer, /*report_inputs=*/true);
}

std::vector<Array> Model::run_routed(int64_t layer, std::span<const ExpertRows> batch, ForwardObserver* observer,
                                     bool report_inputs) {
  std::vector<backend::SwigluJob> jobs;
  jobs.reserve(batch.size());
  for (const ExpertRows& item : batch) {
    const LinearWeights& gate = linear_slot({layer, Linear::expert_gate, item.expert});  // checks layer, expert, owner
    const ExpertWeights& ex = layers_[static_cast<size_t>(layer)].experts[static_cast<size_t>(item.expert)];
    MOQA_CHECK(item.rows.cols() == config_.hidden_size, "model: layer ", layer, ", expert ", item.expert,
               ": input rows of shape ", to_string(item.rows.shape), ", expected width ", config_.hidden_size);
    jobs.push_back(swiglu_job(gate, ex.up, ex.down, item.rows));
  }
  std::vector<backend::SwigluResult> results = backend_->routed_experts(jobs, observer != nullptr);
  std::vector<Array> outputs;
  outputs.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const ExpertRows& item = batch[i];
    if (observer) {
      if (report_inputs) {
        observer->on_expert_input(
            {.layer = layer, .expert = item.expert, .rows = item.rows, .tokens = item.tokens, .weights = item.weights});
      }
      report_swiglu_inputs({layer, Linear::expert_gate, item.expert}, item.rows, results[i].activated, *observer);
      observer->on_expert_output({.layer = layer, .expert = item.expert, .outputs = results[i].out});
    }
    outputs.push_back(std::move(results[i].out));
    results[i] = {};  // the activation is no longer needed
  }
  return outputs;
}

Array Model::final_norm(const HiddenStates& hidden) {
  return backend_->rms_norm(hidden.values, final_norm_, static_cast<float>(config_.rms_norm_eps));
}

Array Model::logits(const Array& normed) { return backend_->linear(normed, lm_head_, nullptr); }

std::vector<float> Model::token_nll(const Array& normed, std::span<const int32_t> rows,
                                    std::span<const int32_t> targets) {
  MOQA_CHECK(rows.size() == targets.size(), "model: ", rows.size(), " rows but ", targets.size(), " targets");
  std::vector<float> out;
  out.reserve(rows.size());
  const size_t chunk = static_cast<size_t>(options_.logits_chunk_rows);
  for (size_t first = 0; first < rows.size(); first += chunk) {
    const size_t count = std::min(chunk, rows.size() - first);
    const Array selected = backend_->gather_rows(normed, rows.subspan(first, count));
    const std::vector<float> part = backend_->nll(logits(selected), targets.subspan(first, count));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace moqa::model
