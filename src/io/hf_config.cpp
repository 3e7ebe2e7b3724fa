#include "io/hf_config.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"

namespace moqa {

namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<Arch, std::string_view>, 7> kArchNames = {{
    {Arch::mixtral, "mixtral"},
    {Arch::qwen2_moe, "qwen2_moe"},
    {Arch::qwen3_moe, "qwen3_moe"},
    {Arch::olmoe, "olmoe"},
    {Arch::deepseek_v3, "deepseek_v3"},
    {Arch::deepseek, "deepseek"},
    {Arch::deepseek_v2, "deepseek_v2"},
}};

std::string supported_model_types() {
  std::string out;
  for (const auto& [arch, name] : kArchNames) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::string describe_json(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object " + text;
    case json::value_t::array: return "an array " + text;
    case json::value_t::string: return "the string " + text;
    case json::value_t::boolean: return "the boolean " + text;
    case json::value_t::number_float: return "the number " + text;
    default: return "the integer " + text;
  }
}

// Typed access to one JSON object of config.json. Every error names the file, the dotted key, what
// was found and what was expected. Absent and null keys are treated alike: transformers writes unset
// optional values as null.
class Keys {
 public:
  Keys(const json& object, const std::filesystem::path& file, std::string prefix = "")
      : object_(object), file_(file), prefix_(std::move(prefix)) {}

  const std::filesystem::path& file() const { return file_; }
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

  const json* find(std::string_view key) const {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  [[noreturn]] void wrong(std::string_view key, const json& found, std::string_view expected) const {
    fail(file_.string(), ": key \"", name(key), "\" is ", describe_json(found), ", expected ", expected);
  }
  [[noreturn]] void invalid(std::string_view key, std::string_view problem) const {
    fail(file_.string(), ": key \"", name(key), "\" ", problem);
  }

  const json& required(std::string_view key, std::string_view expected) const {
    const auto it = object_.find(key);
    if (it == object_.end()) fail(file_.string(), ": missing key \"", name(key), "\" (expected ", expected, ")");
    if (it->is_null()) wrong(key, *it, expected);
    return *it;
  }

  int64_t integer(std::string_view key, std::string_view expected = "an integer") const {
    return as_integer(key, required(key, expected), expected);
  }
  int64_t integer_or(std::string_view key, int64_t fallback, std::string_view expected = "an integer") const {
    const json* v = find(key);
    return v ? as_integer(key, *v, expected) : fallback;
  }
  std::optional<int64_t> optional_integer(std::string_view key) const {
    const json* v = find(key);
    return v ? std::optional<int64_t>(as_integer(key, *v, "an integer")) : std::nullopt;
  }
  int64_t positive(std::string_view key) const { return check_positive(key, integer(key, "a positive integer")); }
  int64_t positive_or(std::string_view key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  int64_t non_negative(std::string_view key) const {
    return check_non_negative(key, integer(key, "a non-negative integer"));
  }
  int64_t non_negative_or(std::string_view key, int64_t fallback) const {
    return has(key) ? non_negative(key) : fallback;
  }

  double number(std::string_view key, std::string_view expected = "a number") const {
    return as_number(key, required(key, expected), expected);
  }
  double number_or(std::string_view key, double fallback, std::string_view expected = "a number") const {
    const json* v = find(key);
    return v ? as_number(key, *v, expected) : fallback;
  }
  double positive_number(std::string_view key) const {
    const double v = number(key, "a positive number");
    if (!(v > 0)) invalid(key, cat("is ", v, ", expected a positive number"));
    return v;
  }
  double positive_number_or(std::string_view key, double fallback) const {
    return has(key) ? positive_number(key) : fallback;
  }

  bool boolean_or(std::string_view key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong(key, *v, "true or false");
    return v->get<bool>();
  }

  std::string string_or(std::string_view key, std::string fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) wrong(key, *v, "a string");
    return v->get<std::string>();
  }
  std::string string(std::string_view key, std::string_view expected = "a string") const {
    const json& v = required(key, expected);
    if (!v.is_string()) wrong(key, v, expected);
    return v.get<std::string>();
  }

  std::vector<int64_t> integer_list_or_empty(std::string_view key, std::string_view expected = "an array of integers") const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_array()) wrong(key, *v, expected);
    std::vector<int64_t> out;
    for (const auto& item : *v) {
      if (!item.is_number_integer()) wrong(key, *v, expected);
      out.push_back(as_integer(key, item, expected));
    }
    return out;
  }

  // A nested object (rope_scaling, rope_parameters); nullopt when absent or null.
  std::optional<Keys> object(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_object()) wrong(key, *v, "an object");
    return Keys(*v, file_, name(key) + ".");
  }

 private:
  int64_t as_integer(std::string_view key, const json& v, std::string_view expected) const {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) wrong(key, v, expected);
      return v.get<int64_t>();
    }
    wrong(key, v, expected);
  }
  double as_number(std::string_view key, const json& v, std::string_view expected) const {
    if (v.is_number()) return v.get<double>();
    wrong(key, v, expected);
  }
  // Sizes and counts beyond 2^30 describe no real model; bounding them keeps every size computed from
  // them (products of a few) inside int64.
  static constexpr int64_t kLargest = int64_t{1} << 30;
  int64_t check_non_negative(std::string_view key, int64_t v) const {
    if (v < 0 || v > kLargest) invalid(key, cat("is ", v, ", expected a non-negative integer up to ", kLargest));
    return v;
  }
  int64_t check_positive(std::string_view key, int64_t v) const {
    if (v <= 0 || v > kLargest) invalid(key, cat("is ", v, ", expected a positive integer up to ", kLargest));
    return v;
  }

  const json& object_;
  const std::filesystem::path& file_;
  std::string prefix_;
};

json read_config_json(const std::filesystem::path& path) {
  json parsed = io::read_json_file(path, "model config");
  MOQA_CHECK(parsed.is_object(), path.string(), ": expected a JSON object, found ", describe_json(parsed));
  return parsed;
}

// ------------------------------------------------------------------------------------------------- rope

RopeConfig parse_rope(const Keys& top, int64_t max_position_embeddings) {
  RopeConfig rope;
  // transformers v5 folds everything into rope_parameters; older configs have rope_theta + rope_scaling.
  const std::optional<Keys> v5 = top.object("rope_parameters");
  rope.theta = v5 && v5->has("rope_theta") ? v5->positive_number("rope_theta") : top.positive_number_or("rope_theta", 10000.0);
  const std::optional<Keys> params = v5 ? v5 : top.object("rope_scaling");
  if (!params) return rope;
  const Keys& p = *params;
  std::string type_key = "rope_type";
  std::string type = "default";
  if (p.has("rope_type")) {
    type = p.string("rope_type");
  } else if (p.has("type")) {
    type = p.string("type");
    type_key = "type";
  }
  const auto original = [&](bool required) {
    return required ? p.positive("original_max_position_embeddings")
                    : p.positive_or("original_max_position_embeddings", max_position_embeddings);
  };
  if (type == "default") {
    rope.scaling = RopeScaling::none;
  } else if (type == "linear") {
    rope.scaling = RopeScaling::linear;
    rope.factor = p.positive_number("factor");
  } else if (type == "dynamic") {
    rope.scaling = RopeScaling::dynamic;
    rope.factor = p.positive_number("factor");
    rope.original_max_position_embeddings = original(false);
  } else if (type == "yarn") {
    rope.scaling = RopeScaling::yarn;
    rope.factor = p.positive_number("factor");
    rope.original_max_position_embeddings = original(false);
    rope.beta_fast = p.positive_number_or("beta_fast", 32.0);
    rope.beta_slow = p.positive_number_or("beta_slow", 1.0);
    rope.mscale = p.number_or("mscale", 1.0);
    rope.mscale_all_dim = p.number_or("mscale_all_dim", 0.0);
    if (p.has("attention_factor")) rope.attention_factor = p.positive_number("attention_factor");
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::llama3;
    rope.factor = p.positive_number("factor");
    rope.original_max_position_embeddings = original(true);
    rope.low_freq_factor = p.positive_number("low_freq_factor");
    rope.high_freq_factor = p.positive_number("high_freq_factor");
    if (!(rope.high_freq_factor > rope.low_freq_factor))
      p.invalid("high_freq_factor", cat("is ", rope.high_freq_factor, ", expected more than low_freq_factor (", rope.low_freq_factor, ")"));
  } else {
    p.invalid(type_key, cat("is \"", type, "\", a rope scaling moqa does not implement (supported: default, linear, dynamic, yarn, llama3)"));
  }
  return rope;
}

// ---------------------------------------------------------------------------------------------- families

// Which config keys hold the expert count and width, for messages about them.
struct ExpertKeys {
  std::string count, width;
};

ExpertKeys parse_mixtral(const Keys& k, ModelConfig& c) {
  c.num_experts = k.positive("num_local_experts");
  c.top_k = k.positive("num_experts_per_tok");
  c.expert_intermediate_size = k.positive("intermediate_size");
  c.layer_is_moe.assign(static_cast<size_t>(c.num_layers), true);
  c.scoring = RouterScoring::softmax;
  c.norm_topk_prob = true;  // Mixtral renormalises the top-k softmax weights
  if (const auto window = k.optional_integer("sliding_window"); window && *window > 0) c.sliding_window = window;
  return {"num_local_experts", "intermediate_size"};
}

// Qwen2-MoE and Qwen3-MoE share the sparse-layer rule and the dense fallback MLP.
ExpertKeys parse_qwen(const Keys& k, ModelConfig& c) {
  std::string count_key = "num_experts";
  if (c.arch == Arch::qwen3_moe && !k.has("num_experts")) count_key = "num_local_experts";
  if (k.has("num_experts") && k.has("num_local_experts") && k.integer("num_experts") != k.integer("num_local_experts"))
    k.invalid("num_local_experts", cat("is ", k.integer("num_local_experts"), ", but num_experts is ", k.integer("num_experts"),
                                       ", expected the same value"));
  c.num_experts = k.non_negative(count_key);
  c.top_k = k.positive("num_experts_per_tok");
  c.expert_intermediate_size = k.positive("moe_intermediate_size");
  c.dense_intermediate_size = k.non_negative_or("intermediate_size", 0);
  c.norm_topk_prob = k.boolean_or("norm_topk_prob", false);
  const int64_t step = k.positive_or("decoder_sparse_step", 1);
  const auto mlp_only = k.integer_list_or_empty("mlp_only_layers");
  for (int64_t layer : mlp_only) {
    if (layer < 0 || layer >= c.num_layers)
      k.invalid("mlp_only_layers", cat("lists layer ", layer, ", expected layers in [0, ", c.num_layers, ")"));
  }
  c.layer_is_moe.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool dense_only = std::find(mlp_only.begin(), mlp_only.end(), l) != mlp_only.end();
    c.layer_is_moe[static_cast<size_t>(l)] = !dense_only && c.num_experts > 0 && (l + 1) % step == 0;
  }
  if (k.boolean_or("use_sliding_window", false)) {
    if (const auto window = k.optional_integer("sliding_window"); window && *window > 0) c.sliding_window = window;
  }
  if (c.arch == Arch::qwen2_moe) {
    c.shared_expert_intermediate_size = k.non_negative("shared_expert_intermediate_size");
    c.shared_expert_gated = c.shared_expert_intermediate_size > 0;
    c.qkv_bias = k.boolean_or("qkv_bias", true);  // Qwen1.5-MoE always had q/k/v biases
  } else {
    c.qk_norm = QkNorm::per_head;
    c.qkv_bias = c.o_bias = k.boolean_or("attention_bias", false);
  }
  return {count_key, "moe_intermediate_size"};
}

ExpertKeys parse_olmoe(const Keys& k, ModelConfig& c) {
  c.num_experts = k.positive("num_experts");
  c.top_k = k.positive("num_experts_per_tok");
  c.expert_intermediate_size = k.positive("intermediate_size");
  c.layer_is_moe.assign(static_cast<size_t>(c.num_layers), true);
  c.norm_topk_prob = k.boolean_or("norm_topk_prob", false);
  c.qk_norm = QkNorm::full;
  c.qkv_bias = c.o_bias = k.boolean_or("attention_bias", false);
  if (k.has("clip_qkv")) c.clip_qkv = k.positive_number("clip_qkv");
  return {"num_experts", "intermediate_size"};
}

// DeepSeek-MoE (model_type "deepseek"), DeepSeek-V2 and DeepSeek-V3 share expert layout and layer rule;
// V2 adds MLA (V2-Lite routes greedily over softmax scores), V3 sigmoid scores with a selection bias.
ExpertKeys parse_deepseek(const Keys& k, ModelConfig& c) {
  const bool v3 = c.arch == Arch::deepseek_v3;
  const bool mla = v3 || c.arch == Arch::deepseek_v2;
  c.num_experts = k.positive("n_routed_experts");
  c.top_k = k.positive("num_experts_per_tok");
  c.expert_intermediate_size = k.positive("moe_intermediate_size");
  c.dense_intermediate_size = k.non_negative_or("intermediate_size", 0);
  c.shared_expert_intermediate_size = k.non_negative_or("n_shared_experts", 0) * c.expert_intermediate_size;
  c.shared_expert_gated = false;
  const int64_t first_dense = k.non_negative_or("first_k_dense_replace", 0);
  if (first_dense > c.num_layers)
    k.invalid("first_k_dense_replace", cat("is ", first_dense, ", more than num_hidden_layers (", c.num_layers, ")"));
  const int64_t freq = k.positive_or("moe_layer_freq", 1);
  c.layer_is_moe.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) c.layer_is_moe[static_cast<size_t>(l)] = l >= first_dense && l % freq == 0;
  c.qkv_bias = c.o_bias = k.boolean_or("attention_bias", false);

  const std::string scoring = k.string_or("scoring_func", v3 ? "sigmoid" : "softmax");
  if (scoring == "softmax") {
    c.scoring = RouterScoring::softmax;
  } else if (scoring == "sigmoid") {
    c.scoring = RouterScoring::sigmoid;
  } else {
    k.invalid("scoring_func", cat("is \"", scoring, "\", expected \"softmax\" or \"sigmoid\""));
  }
  c.norm_topk_prob = k.boolean_or("norm_topk_prob", v3);
  c.routed_scaling_factor = k.positive_number_or("routed_scaling_factor", v3 ? 2.5 : 1.0);

  const std::string method = k.string_or("topk_method", v3 ? "noaux_tc" : "greedy");
  if (method == "greedy") {
    c.n_group = c.topk_group = 1;
  } else if (v3 && (method == "noaux_tc" || method == "group_limited_greedy")) {
    c.n_group = k.positive_or("n_group", 1);
    c.topk_group = k.positive_or("topk_group", 1);
    c.score_correction_bias = method == "noaux_tc";
  } else {
    k.invalid("topk_method", cat("is \"", method, "\", expected ",
                                 v3    ? "\"noaux_tc\", \"group_limited_greedy\" or \"greedy\""
                                 // V2's group_limited_greedy rates a group by its best score, V3's by
                                 // its best two; only V3's rating is implemented (router.cpp).
                                 : mla ? "\"greedy\" (DeepSeek-V2's group_limited_greedy is not implemented)"
                                       : "\"greedy\""));
  }

  if (mla) {
    c.mla = true;
    c.mla_dims.q_lora_rank = k.non_negative_or("q_lora_rank", 0);
    c.mla_dims.kv_lora_rank = k.positive("kv_lora_rank");
    c.mla_dims.qk_nope_head_dim = k.positive("qk_nope_head_dim");
    c.mla_dims.qk_rope_head_dim = k.positive("qk_rope_head_dim");
    c.mla_dims.v_head_dim = k.positive("v_head_dim");
    if (c.mla_dims.qk_rope_head_dim % 2 != 0)
      k.invalid("qk_rope_head_dim", cat("is ", c.mla_dims.qk_rope_head_dim, ", expected an even number (rotary pairs)"));
    c.head_dim = c.mla_dims.qk_nope_head_dim + c.mla_dims.qk_rope_head_dim;
    c.rope.interleave = k.boolean_or("rope_interleave", true);
    c.num_nextn_predict_layers = k.non_negative_or("num_nextn_predict_layers", 0);
  }
  return {"n_routed_experts", "moe_intermediate_size"};
}

void validate(const Keys& k, const ModelConfig& c, const ExpertKeys& keys) {
  if (c.num_heads % c.num_kv_heads != 0)
    k.invalid("num_key_value_heads", cat("is ", c.num_kv_heads, ", which does not divide num_attention_heads (", c.num_heads, ")"));
  if (!c.mla && c.head_dim % 2 != 0)
    k.invalid(k.has("head_dim") ? "head_dim" : "hidden_size", cat("gives head_dim ", c.head_dim, ", expected an even number (rotary pairs)"));
  if (c.num_moe_layers() == 0)
    k.invalid(keys.count, cat("is ", c.num_experts, " and no layer is a mixture-of-experts layer; moqa quantizes MoE models"));
  if (c.top_k > c.num_experts)
    k.invalid("num_experts_per_tok", cat("is ", c.top_k, ", expected at most ", keys.count, " (", c.num_experts, ")"));
  if (c.num_experts % c.n_group != 0)
    k.invalid("n_group", cat("is ", c.n_group, ", which does not divide ", keys.count, " (", c.num_experts, ")"));
  if (c.topk_group > c.n_group) k.invalid("topk_group", cat("is ", c.topk_group, ", expected at most n_group (", c.n_group, ")"));
  if (c.top_k > c.topk_group * (c.num_experts / c.n_group))
    k.invalid("num_experts_per_tok", cat("is ", c.top_k, ", but topk_group (", c.topk_group, ") groups of ", c.num_experts / c.n_group,
                                         " experts offer only ", c.topk_group * (c.num_experts / c.n_group)));
  const bool any_dense = std::find(c.layer_is_moe.begin(), c.layer_is_moe.end(), false) != c.layer_is_moe.end();
  if (any_dense && c.dense_intermediate_size <= 0)
    k.invalid("intermediate_size", cat("is ", c.dense_intermediate_size, ", but some layers are dense MLPs and need a positive width"));
}

std::string format_count(int64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(n) / 1e9);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "0-2, 5" for the dense layers.
std::string layer_ranges(const std::vector<bool>& is_moe, bool want) {
  std::string out;
  const size_t n = is_moe.size();
  for (size_t i = 0; i < n;) {
    if (is_moe[i] != want) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < n && is_moe[j + 1] == want) ++j;
    out += (out.empty() ? "" : ", ") + (i == j ? std::to_string(i) : cat(i, "-", j));
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string_view arch_name(Arch arch) {
  for (const auto& [a, name] : kArchNames)
    if (a == arch) return name;
  return "unknown";
}

int64_t ModelConfig::num_moe_layers() const {
  return static_cast<int64_t>(std::count(layer_is_moe.begin(), layer_is_moe.end(), true));
}

ModelConfig load_hf_config(const std::filesystem::path& config_json) {
  const json root = read_config_json(config_json);
  const Keys k(root, config_json);
  ModelConfig c;
  c.source = config_json;

  const std::string model_type = k.string("model_type", cat("one of ", supported_model_types()));
  const auto known = std::find_if(kArchNames.begin(), kArchNames.end(), [&](const auto& p) { return p.second == model_type; });
  if (known == kArchNames.end())
    k.invalid("model_type", cat("is \"", model_type, "\", which moqa does not support (supported: ", supported_model_types(), ")"));
  c.arch = known->first;

  c.vocab_size = k.positive("vocab_size");
  c.hidden_size = k.positive("hidden_size");
  c.num_layers = k.positive("num_hidden_layers");
  c.num_heads = k.positive("num_attention_heads");
  c.num_kv_heads = k.positive_or("num_key_value_heads", c.num_heads);
  c.max_position_embeddings = k.positive("max_position_embeddings");
  c.rms_norm_eps = k.positive_number_or("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = k.boolean_or("tie_word_embeddings", false);
  const bool mla_arch = c.arch == Arch::deepseek_v3 || c.arch == Arch::deepseek_v2;
  if (k.has("head_dim") && !mla_arch) {
    c.head_dim = k.positive("head_dim");
  } else {
    if (!mla_arch && c.hidden_size % c.num_heads != 0)
      k.invalid("num_attention_heads", cat("is ", c.num_heads, ", which does not divide hidden_size (", c.hidden_size,
                                           ") and config.json gives no head_dim"));
    c.head_dim = c.hidden_size / c.num_heads;  // DeepSeek-V3 replaces it from the MLA dims below
  }
  const std::string act = k.string_or("hidden_act", "silu");
  if (act != "silu") k.invalid("hidden_act", cat("is \"", act, "\", but moqa's expert MLPs implement only \"silu\" (SwiGLU)"));

  c.bos_token_id = k.optional_integer("bos_token_id");
  if (const json* eos = k.find("eos_token_id")) {
    constexpr std::string_view kEosExpected = "an integer or an array of integers";
    c.eos_token_ids = eos->is_array() ? k.integer_list_or_empty("eos_token_id", kEosExpected)
                                      : std::vector<int64_t>{k.integer("eos_token_id", kEosExpected)};
    if (!c.eos_token_ids.empty()) c.eos_token_id = c.eos_token_ids.front();
  }
  c.torch_dtype = k.string_or("torch_dtype", k.string_or("dtype", ""));
  if (const auto quant = k.object("quantization_config")) c.weight_quantization = quant->string_or("quant_method", "unknown");

  c.rope = parse_rope(k, c.max_position_embeddings);

  ExpertKeys keys;
  switch (c.arch) {
    case Arch::mixtral: keys = parse_mixtral(k, c); break;
    case Arch::qwen2_moe:
    case Arch::qwen3_moe: keys = parse_qwen(k, c); break;
    case Arch::olmoe: keys = parse_olmoe(k, c); break;
    case Arch::deepseek_v3:
    case Arch::deepseek_v2:
    case Arch::deepseek: keys = parse_deepseek(k, c); break;
  }
  validate(k, c, keys);
  if (!parameter_count_fits(c))
    fail(config_json.string(), ": the sizes in it describe more than 4e18 parameters, more than moqa can count");
  return c;
}

namespace {

// The parameter count in any arithmetic type T: int64_t for the result, long double to check first that
// the result fits (every size computed elsewhere is a part of it).
template <class T>
struct Counts {
  T total = 0, routed_experts = 0, active_per_token = 0;
};

template <class T>
Counts<T> count_parameters(const ModelConfig& c) {
  // Every size as T before any product: the long double check must not overflow in int64 on the way.
  const auto t = [](int64_t v) { return static_cast<T>(v); };
  const T d = t(c.hidden_size), heads = t(c.num_heads), head_dim = t(c.head_dim), experts = t(c.num_experts);
  T attention = 0;
  if (c.mla) {
    const auto& m = c.mla_dims;
    const T q_lora = t(m.q_lora_rank), kv_lora = t(m.kv_lora_rank), rope = t(m.qk_rope_head_dim);
    const T q_out = heads * (t(m.qk_nope_head_dim) + rope);
    attention += m.q_lora_rank > 0 ? d * q_lora + q_lora + q_lora * q_out : d * q_out;
    attention += d * (kv_lora + rope) + kv_lora;
    attention += kv_lora * heads * (t(m.qk_nope_head_dim) + t(m.v_head_dim));
    attention += heads * t(m.v_head_dim) * d;
    if (c.qkv_bias) attention += m.q_lora_rank > 0 ? q_lora : q_out;
    if (c.qkv_bias) attention += kv_lora + rope;
  } else {
    const T q = heads * head_dim, kv = t(c.num_kv_heads) * head_dim;
    attention += d * q + 2 * d * kv + q * d;
    if (c.qkv_bias) attention += q + 2 * kv;
    if (c.qk_norm == QkNorm::per_head) attention += 2 * head_dim;
    if (c.qk_norm == QkNorm::full) attention += q + kv;
  }
  if (c.o_bias) attention += d;

  const T expert = 3 * d * t(c.expert_intermediate_size);  // ModelConfig::expert_parameter_count
  const T dense_mlp = 3 * d * t(c.dense_intermediate_size);
  const T shared = 3 * d * t(c.shared_expert_intermediate_size) + (c.shared_expert_gated ? d : 0);
  const T router = d * experts + (c.score_correction_bias ? experts : 0);

  Counts<T> counts;
  counts.total = t(c.vocab_size) * d * (c.tie_word_embeddings ? 1 : 2) + d;  // embeddings, lm_head, final norm
  for (int64_t l = 0; l < c.num_layers; ++l) {
    counts.total += attention + 2 * d;
    if (c.is_moe_layer(l)) {
      counts.total += router + shared + experts * expert;
      counts.routed_experts += experts * expert;
      counts.active_per_token -= (experts - t(c.top_k)) * expert;
    } else {
      counts.total += dense_mlp;
    }
  }
  counts.active_per_token += counts.total;
  return counts;
}

}  // namespace

bool parameter_count_fits(const ModelConfig& config) {
  const Counts<long double> wide = count_parameters<long double>(config);
  constexpr long double kLimit = 4.0e18L;  // below INT64_MAX (9.2e18) with room for the per-bit totals' checks
  return wide.total < kLimit && wide.routed_experts < kLimit;
}

ParameterCounts parameter_counts(const ModelConfig& config) {
  MOQA_CHECK(parameter_count_fits(config), "model config: the dimensions describe more than 4e18 parameters");
  const Counts<int64_t> n = count_parameters<int64_t>(config);
  return {.total = n.total, .routed_experts = n.routed_experts, .active_per_token = n.active_per_token};
}

std::string describe(const ModelConfig& c) {
  const ParameterCounts counts = parameter_counts(c);
  std::ostringstream out;
  out << "model        " << arch_name(c.arch) << " (" << c.source.string() << ")";
  if (!c.torch_dtype.empty()) out << ", " << c.torch_dtype;
  if (!c.weight_quantization.empty()) out << ", pre-quantized " << c.weight_quantization;
  out << "\n";
  out << "layers       " << c.num_layers << " (" << c.num_moe_layers() << " MoE, " << c.num_layers - c.num_moe_layers()
      << " dense), hidden " << c.hidden_size << ", vocab " << c.vocab_size
      << (c.tie_word_embeddings ? " (tied embeddings)" : "") << "\n";
  out << "attention    ";
  if (c.mla) {
    const auto& m = c.mla_dims;
    out << "MLA, " << c.num_heads << " heads, q_lora " << m.q_lora_rank << ", kv_lora " << m.kv_lora_rank << ", qk "
        << m.qk_nope_head_dim << "+" << m.qk_rope_head_dim << " (rope), v " << m.v_head_dim;
  } else {
    out << c.num_heads << " heads x " << c.head_dim << ", " << c.num_kv_heads << " kv heads";
  }
  if (c.qkv_bias) out << ", qkv bias";
  if (c.qk_norm == QkNorm::per_head) out << ", q/k norm per head";
  if (c.qk_norm == QkNorm::full) out << ", q/k norm full";
  if (c.clip_qkv) out << ", clip_qkv " << format_number(*c.clip_qkv);
  if (c.sliding_window) out << ", sliding window " << *c.sliding_window;
  out << "\n";
  static constexpr std::array<const char*, 5> kScaling = {"none", "linear", "dynamic", "yarn", "llama3"};
  out << "rope         theta " << format_number(c.rope.theta);
  if (c.rope.scaling != RopeScaling::none)
    out << ", " << kScaling[static_cast<size_t>(c.rope.scaling)] << " x" << format_number(c.rope.factor) << " from "
        << c.rope.original_max_position_embeddings;
  if (c.rope.interleave) out << ", interleaved";
  out << ", max positions " << c.max_position_embeddings << "\n";
  out << "experts      " << c.num_experts << " x top-" << c.top_k << ", width " << c.expert_intermediate_size << ", "
      << (c.scoring == RouterScoring::softmax ? "softmax" : "sigmoid") << (c.norm_topk_prob ? ", top-k renormalised" : "");
  if (c.n_group > 1) out << ", " << c.topk_group << " of " << c.n_group << " groups";
  if (c.score_correction_bias) out << ", score correction bias";
  if (c.routed_scaling_factor != 1.0) out << ", scaled x" << format_number(c.routed_scaling_factor);
  out << "\n";
  out << "shared       ";
  if (c.shared_expert_intermediate_size > 0) {
    out << "width " << c.shared_expert_intermediate_size << (c.shared_expert_gated ? " (sigmoid-gated)" : "");
  } else {
    out << "none";
  }
  out << "\n";
  if (c.num_moe_layers() < c.num_layers)
    out << "dense layers " << layer_ranges(c.layer_is_moe, false) << " (MLP width " << c.dense_intermediate_size << ")\n";
  out << "parameters   " << format_count(counts.total) << " total, " << format_count(counts.routed_experts)
      << " in routed experts, " << format_count(counts.active_per_token) << " active per token\n";
  return out.str();
}

}  // namespace moqa
