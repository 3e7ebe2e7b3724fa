#include "plan/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "backend/factory.h"
#include "core/error.h"
#include "core/units.h"
#include "dist/shard_plan.h"
#include "model/weight_names.h"

namespace moqa::plan {
namespace {

using config::Stage;

// Memory the process holds before any model data: the binary, MPI, OpenBLAS's buffers, the tokenizer's
// tables. Measured as RssAnon of a run over a model of a few kilobytes (docs/PERFORMANCE.md).
constexpr uint64_t kProcessBaselineBytes = uint64_t{96} << 20;
// Bytes of text per token when a perplexity file's token count must be guessed from its size (English
// BPE averages about 4; the lower figure errs on the side of more windows).
constexpr double kBytesPerTokenGuess = 3.5;
constexpr uint64_t kF32 = 4, kF64 = 8;

uint64_t u(int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(v, 0)); }
uint64_t ceil_div(int64_t a, int64_t b) { return u((a + b - 1) / b); }

struct Shapes {
  const ModelConfig& c;
  uint64_t matrix_bytes;  // bytes per weight of a matrix as the backend stores it
  uint64_t vector_bytes = kF32;

  uint64_t param_bytes(const Shape& shape) const {
    return u(element_count(shape)) * (shape.size() >= 2 ? matrix_bytes : vector_bytes);
  }
  // Embeddings, final norm and lm_head: resident during the whole run.
  uint64_t fixed() const {
    uint64_t b = param_bytes({c.vocab_size, c.hidden_size}) + param_bytes({c.hidden_size});
    if (!c.tie_word_embeddings) b += param_bytes({c.vocab_size, c.hidden_size});
    return b;
  }
  // A layer's replicated weights (attention, router, shared expert, dense MLP, norms, biases).
  uint64_t layer_replicated(int64_t layer) const {
    uint64_t b = 0;
    for (const auto& id : model::layer_linears(c, layer, false)) {
      const Shape shape = model::weight_shape(c, id);
      b += param_bytes(shape);
      if (model::bias_name(c, id)) b += param_bytes({shape[0]});
    }
    for (const auto v : model::layer_vectors(c, layer)) b += param_bytes(model::vector_shape(c, v));
    return b;
  }
  uint64_t expert() const { return 3 * u(c.hidden_size) * u(c.expert_intermediate_size) * matrix_bytes; }
  int64_t widest_ffn() const {
    return std::max({c.expert_intermediate_size, c.dense_intermediate_size, c.shared_expert_intermediate_size});
  }
  uint64_t largest_tensor_f32() const {  // the host float32 copy a weight passes through while it is loaded
    uint64_t most = u(c.vocab_size) * u(c.hidden_size);
    for (int64_t l = 0; l < c.num_layers; ++l)
      for (const auto& id : model::layer_linears(c, l, true)) {
        most = std::max(most, u(element_count(model::weight_shape(c, id))));
        if (id.is_routed_expert()) break;  // every expert has the same three shapes as expert 0
      }
    return most * kF32;
  }
};

// The CUDA backend's attention computes the scores of as many (window, head) pairs at once as fit this
// scratch (CudaOptions::attention_scratch_bytes' default); the CPU backend one query row per thread.
constexpr uint64_t kCudaAttentionScratchBytes = uint64_t{1} << 30;

// The forward pass of one batch of `windows` x `seq_len` tokens through one layer: normed input, q/k/v,
// attention scores, attention output, the router's logits and scores, the widest MLP's gate, up and
// activation, the expert outputs and their sum, and the routed experts' rows of the batch, which run as
// one batch (Model::run_experts): each routed row's input, output and kept activation.
uint64_t forward_working_set(const ModelConfig& c, int64_t windows, int64_t seq_len, int64_t widest_ffn, bool device) {
  const uint64_t tokens = u(windows * seq_len);
  const int64_t qk = c.head_dim, v = c.mla ? c.mla_dims.v_head_dim : c.head_dim;
  const int64_t kv_heads = c.mla ? c.num_heads : c.num_kv_heads;
  const uint64_t per_token =
      u(4 * c.hidden_size + c.num_heads * qk + kv_heads * (qk + v) + c.num_heads * v + 2 * c.num_experts +
        3 * widest_ffn + (c.mla ? c.mla_dims.kv_lora_rank + c.mla_dims.q_lora_rank : 0) +
        (c.num_experts > 0 ? c.top_k * (2 * c.hidden_size + c.expert_intermediate_size) : 0));
  const uint64_t scores = u(windows) * u(c.num_heads) * u(seq_len) * u(seq_len) * kF32;
  return tokens * per_token * kF32 + (device ? std::min(scores, kCudaAttentionScratchBytes) : 0);
}

// One MoE layer's calibration accumulators for one distribution (analysis/accumulators.h): the input
// side's five [E, C] float64 sums, the output side's two [E, C] and two [E, F], the [E, E] co-activation
// counts, the [E] vectors; sensitivity adds one [E, C] and one [E, F].
uint64_t layer_accumulator(const ModelConfig& c, const config::AnalysisSection& a) {
  const uint64_t e = u(c.num_experts), ch = u(c.hidden_size), f = u(c.expert_intermediate_size);
  uint64_t words = e * (7 * ch + 2 * f + e + 6);
  if (a.channel_significance == config::ChannelSignificance::sensitivity) words += e * (ch + f);
  return words * kF64;
}

// Tokens of an evaluation set: its max_tokens, or a guess from the file size.
int64_t evaluation_windows(const config::EvaluationSet& set, int64_t batch_windows) {
  if (set.kind != config::EvalKind::perplexity) return batch_windows;
  int64_t tokens = set.max_tokens;
  if (tokens <= 0) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(set.path, ec);
    const bool compressed = set.path.extension() == ".xz";
    tokens = ec ? 0 : static_cast<int64_t>(double(size) * (compressed ? 4.0 : 1.0) / kBytesPerTokenGuess);
  }
  const int64_t stride = std::max<int64_t>(set.stride > 0 ? set.stride : set.seq_len, 1);
  return std::max<int64_t>(1, (tokens + stride - 1) / stride);
}

std::string stage_label(Stage stage) { return std::string(config::name_of(stage)); }

}  // namespace

uint64_t StageMemory::total() const {
  uint64_t sum = 0;
  for (const auto& t : terms) sum += t.bytes;
  return sum;
}

const MemoryTerm& StageMemory::largest() const {
  MOQA_CHECK(!terms.empty(), "memory plan: stage ", config::name_of(stage), " has no terms");
  return *std::max_element(terms.begin(), terms.end(), [](const auto& a, const auto& b) { return a.bytes < b.bytes; });
}

MemoryTarget memory_target(std::string_view memory_limit, int64_t hidden_state_memory_mib, config::Device device,
                           int local_rank, int ranks_on_node) {
  MemoryTarget target;
  target.hidden_state_budget_bytes = u(hidden_state_memory_mib) << 20;
  const backend::AvailableMemory available = backend::available_memory(
      {.device = std::string(config::name_of(device)), .threads = 0, .local_rank = local_rank});
  // runtime.device = "cuda" plans device memory even where no device is visible (planning a cluster job
  // on a login node); the limit is then unknown unless runtime.memory_limit gives it.
  target.device = available.device || device == config::Device::cuda;
  const std::string text(memory_limit);
  if (text == "auto" && target.device && !available.device) {
    target.limit_bytes = UINT64_MAX;
    target.limit_source = "no CUDA device visible here";
    return target;
  }
  if (text == "auto") {
    const int sharing = available.device ? 1 : std::max(ranks_on_node, 1);
    target.limit_bytes = available.bytes / u(sharing);
    target.limit_source = sharing > 1 ? cat(available.source, " / ", sharing, " ranks on this node") : available.source;
    if (available.bytes == 0) {  // unknown: plan, but refuse nothing
      target.limit_bytes = UINT64_MAX;
      target.limit_source = available.source;
    }
    return target;
  }
  std::istringstream in(text);
  double value = 0;
  std::string unit;
  in >> value >> unit;
  const std::map<std::string, uint64_t> units = {{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};
  std::string rest;
  if (!in.fail() && units.count(unit) && !(in >> rest) && value > 0 && value < 1e6) {
    target.limit_bytes = static_cast<uint64_t>(value * double(units.at(unit)));
    target.limit_source = cat("runtime.memory_limit = \"", text, "\"");
    return target;
  }
  fail("runtime.memory_limit is \"", text, "\", expected \"auto\" or a positive size with its unit, e.g. \"20 GiB\" ",
       "or \"512 MiB\" (KiB, MiB, GiB, TiB)");
}

MemoryPlan plan_memory(const config::Experiment& e, const ModelConfig& c, int ranks, const MemoryTarget& target) {
  MOQA_CHECK(ranks >= 1, "memory plan: ", ranks, " ranks");
  MemoryPlan plan;
  plan.ranks = ranks;
  plan.target = target;
  const Shapes shapes{c, target.device ? uint64_t{2} : kF32};
  const dist::ShardPlan shards = dist::make_shard_plan(c, ranks);
  const bool stream = e.runtime.stream_weights;
  const int64_t batch = e.runtime.batch_windows;
  const auto& stages = e.experiment.stages;
  const bool quantizes = std::find(stages.begin(), stages.end(), Stage::quantize) != stages.end();
  const bool gptq = quantizes && e.quantization.method == config::QuantMethod::gptq;
  const int max_bits = e.allocation.candidate_bits.empty() ? 8 : e.allocation.candidate_bits.back();
  const int64_t group = e.quantization.group_size > 0 ? e.quantization.group_size : c.hidden_size;

  int64_t calib_seq = 1;
  uint64_t calib_hidden = 0, calib_tokens_all = 0;
  for (const auto& set : e.calibration) {
    calib_seq = std::max(calib_seq, set.seq_len);
    calib_hidden += ceil_div(set.samples, ranks) * u(set.seq_len) * u(c.hidden_size) * kF32;
    calib_tokens_all += u(set.samples) * u(set.seq_len);
  }
  const uint64_t distributions = std::max<uint64_t>(e.calibration.size(), 1);
  const uint64_t accumulator = layer_accumulator(c, e.analysis) * distributions;

  for (int r = 0; r < ranks; ++r) {
    // Weights of this rank: replicated ones plus its routed experts, one layer or all of them.
    uint64_t all_layers = 0, widest_layer = 0, hessians = 0, quantized = 0;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const uint64_t owned = c.is_moe_layer(l) ? shards.experts_of(r, l).size() : 0;
      const uint64_t layer = shapes.layer_replicated(l) + owned * shapes.expert();
      all_layers += layer;
      widest_layer = std::max(widest_layer, layer);
      hessians = std::max(hessians, owned * (u(c.hidden_size) * u(c.hidden_size) +
                                             u(c.expert_intermediate_size) * u(c.expert_intermediate_size)) * kF64);
      const double bytes_per_weight = max_bits / 8.0 + 6.0 / double(group);  // codes, f16 scale + zero per group
      quantized += static_cast<uint64_t>(double(owned * 3 * u(c.hidden_size) * u(c.expert_intermediate_size)) *
                                         bytes_per_weight);
    }
    const MemoryTerm weights{stream ? "weights resident (one layer, stream_weights)" : "weights resident (all layers)",
                             shapes.fixed() + (stream ? widest_layer : all_layers)};
    const MemoryTerm loading{"weight being loaded (float32 copy)", shapes.largest_tensor_f32()};
    // Under streaming the next layer is read on a second thread while this one runs (ModelOptions::
    // read_ahead), as float32 host tensors: host memory, not the device's (so no term on CUDA); on the CPU
    // the widest layer as planned above is already float32. The quantize stage reads none ahead.
    const MemoryTerm read_ahead{"next layer read ahead (float32, stream_weights)",
                                stream && !target.device ? widest_layer : 0};
    const MemoryTerm baseline{"process (libraries, tokenizer)", kProcessBaselineBytes};

    RankMemory rank{r, {}};
    for (const Stage stage : stages) {
      StageMemory s{stage, {baseline}};
      switch (stage) {
        case Stage::calibrate: {
          s.terms.push_back(weights);
          s.terms.push_back(loading);
          s.terms.push_back(read_ahead);
          const uint64_t kept = std::min(calib_hidden, target.hidden_state_budget_bytes);
          s.terms.push_back({calib_hidden > kept ? "hidden states of all windows (up to hidden_state_memory_mib)"
                                                 : "hidden states of all windows",
                             kept});
          s.terms.push_back({"forward working set (one batch)",
                             forward_working_set(c, batch, calib_seq, shapes.widest_ffn(), target.device) +
                                 u(batch) * u(calib_seq) * u(c.hidden_size) * kF32});
          s.terms.push_back({"statistics accumulators (layer in flight)", accumulator});
          if (r == 0) s.terms.push_back({"reduced statistics of every MoE layer", accumulator * u(c.num_moe_layers())});
          if (e.analysis.token_reweighting > 0)
            s.terms.push_back({"token re-weighting factors", calib_tokens_all * kF64});
          break;
        }
        case Stage::allocate:
          s.terms.push_back({"reduced statistics of every MoE layer", r == 0 ? accumulator * u(c.num_moe_layers()) : 0});
          break;
        case Stage::quantize: {
          s.terms.push_back(weights);
          s.terms.push_back(loading);
          if (gptq) {
            s.terms.push_back({"hidden states of all windows", calib_hidden});
            s.terms.push_back({"forward working set (one batch and its input copy)",
                               forward_working_set(c, batch, calib_seq, shapes.widest_ffn(), target.device) +
                                   2 * u(batch) * u(calib_seq) * u(c.hidden_size) * kF32});
            s.terms.push_back({"GPTQ Hessians (owned experts of one layer, float64)", hessians});
            const uint64_t cols = u(std::max(c.hidden_size, c.expert_intermediate_size));
            s.terms.push_back({"GPTQ working set (one matrix)", 2 * cols * cols * kF64});
          }
          s.terms.push_back({"quantized weights (owned experts, widest candidate)", quantized});
          break;
        }
        case Stage::evaluate: {
          s.terms.push_back(weights);
          s.terms.push_back(loading);
          s.terms.push_back(read_ahead);
          if (quantizes) s.terms.push_back({"quantized weights (owned experts, widest candidate)", quantized});
          uint64_t hidden = 0, working = 0;
          for (const auto& set : e.evaluation) {
            const int64_t windows = evaluation_windows(set, batch);
            const int64_t held = stream ? (windows + ranks - 1) / ranks : std::min(windows, batch);
            hidden = std::max(hidden, u(held) * u(set.seq_len) * u(c.hidden_size) * kF32);
            working = std::max(working, forward_working_set(c, std::min(windows, batch), set.seq_len, shapes.widest_ffn(), target.device));
          }
          // Layer-major (streaming) holds a set's windows like calibration: up to hidden_state_memory_mib.
          const uint64_t kept = stream ? std::min(hidden, target.hidden_state_budget_bytes) : hidden;
          s.terms.push_back({!stream          ? "hidden states of one batch"
                             : hidden > kept ? "hidden states of a set's windows (layer-major, up to hidden_state_memory_mib)"
                                             : "hidden states of a set's windows (layer-major)",
                             kept});
          s.terms.push_back({"forward working set (one batch)", working});
          s.terms.push_back({"logits chunk (512 rows x vocab)", 512 * u(c.vocab_size) * kF32});
          break;
        }
      }
      rank.stages.push_back(std::move(s));
    }
    plan.per_rank.push_back(std::move(rank));
  }
  return plan;
}

std::string format_memory_plan(const MemoryPlan& plan) {
  std::ostringstream out;
  out << "memory plan (" << (plan.target.device ? "CUDA device memory" : "host memory") << " per rank; "
      << (plan.target.limit_bytes == UINT64_MAX
              ? std::string("no limit: ")
              : cat("limit ", format_bytes(static_cast<int64_t>(plan.target.limit_bytes)), " from "))
      << plan.target.limit_source << "):\n";
  // Ranks whose plans are equal term by term are shown once.
  const auto same = [](const RankMemory& a, const RankMemory& b) {
    if (a.stages.size() != b.stages.size()) return false;
    for (size_t s = 0; s < a.stages.size(); ++s) {
      if (a.stages[s].terms.size() != b.stages[s].terms.size()) return false;
      for (size_t t = 0; t < a.stages[s].terms.size(); ++t)
        if (a.stages[s].terms[t].bytes != b.stages[s].terms[t].bytes) return false;
    }
    return true;
  };
  for (size_t first = 0; first < plan.per_rank.size();) {
    size_t last = first;
    while (last + 1 < plan.per_rank.size() && same(plan.per_rank[first], plan.per_rank[last + 1])) ++last;
    out << "  rank" << (first == last ? cat(" ", first) : cat("s ", first, "-", last)) << ":\n";
    for (const auto& s : plan.per_rank[first].stages) {
      const bool over = s.total() > plan.target.limit_bytes;
      out << "    " << stage_label(s.stage) << ": " << format_bytes(static_cast<int64_t>(s.total()))
          << (over ? "  EXCEEDS THE LIMIT" : "") << "\n";
      for (const auto& t : s.terms)
        if (t.bytes > 0) out << "      " << format_bytes(static_cast<int64_t>(t.bytes)) << "  " << t.name << "\n";
    }
    first = last + 1;
  }
  return out.str();
}

void check_memory_plan(const MemoryPlan& plan, const config::Experiment& experiment, const ModelConfig& model) {
  const uint64_t limit = plan.target.limit_bytes;
  const RankMemory* worst_rank = nullptr;
  const StageMemory* worst = nullptr;
  for (const auto& rank : plan.per_rank)
    for (const auto& s : rank.stages)
      if (s.total() > limit && (!worst || s.total() > worst->total())) {
        worst = &s;
        worst_rank = &rank;
      }
  if (!worst) return;
  int fits = 0;
  for (int r = plan.ranks + 1; r <= 4096 && fits == 0; r = r < 64 ? r + 1 : r * 2) {
    const MemoryPlan more = plan_memory(experiment, model, r, plan.target);
    bool ok = true;
    for (const auto& rank : more.per_rank)
      for (const auto& s : rank.stages) ok = ok && s.total() <= limit;
    if (ok) fits = r;
  }
  const MemoryTerm& term = worst->largest();
  fail("memory plan: stage ", stage_label(worst->stage), " on rank ", worst_rank->rank, " needs ",
       format_bytes(static_cast<int64_t>(worst->total())), ", more than the limit of ",
       format_bytes(static_cast<int64_t>(limit)), " (", plan.target.limit_source, "); its largest term is ", term.name,
       " (", format_bytes(static_cast<int64_t>(term.bytes)), "). ",
       fits > 0 ? cat(fits, " ranks would make it fit (mpirun -np ", fits, "), or raise runtime.memory_limit")
                : cat("no rank count up to 4096 makes it fit: reduce that term (runtime.stream_weights, ",
                      "runtime.batch_windows, fewer windows) or raise runtime.memory_limit"),
       ". --dry-run prints the whole plan; no weight has been read.");
}

}  // namespace moqa::plan
